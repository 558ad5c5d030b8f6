/*
 * vm.h: KeV's virtual machines and vCPUs on AMD SVM with nested paging.
 *
 * A VM owns guest-physical memory through its nested page table (project3's
 * struct npt) and runs each vCPU in a kernel thread pinned to one host CPU.
 * The run loop (vcpu.c) enters the guest with VMRUN and hands every exit to a
 * handler chosen by exit code (exit.c). Nested page faults go first to the
 * VM's pager (Project 3's lazy pager plugs in there), then to MMIO regions.
 */
#pragma once
#include "faultlog.h"
#include "npt.h"
#include "spinlock.h"
#include "svm.h"
#include "thread.h"
#include "types.h"

#define VM_MAX_VCPUS MAX_CPUS
#define VM_MAX_MMIO  4
#define VM_MAX_PORTS 8

/* Guest general-purpose registers, numbered as x86 encodes them. */
enum gpr { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15, NR_GPRS };

/* Hypercalls: VMMCALL with the number in RAX, arguments in RDI, RSI. */
enum hypercall {
	HC_EXIT = 0,  /* end this vCPU with exit code RDI */
	HC_PRINT = 1, /* print RSI bytes at guest-virtual address RDI */
};

/* How a vCPU ended. */
enum vcpu_verdict {
	VCPU_RUNNING = 0,
	VCPU_EXITED,	   /* HC_EXIT: exit_code is the guest's */
	VCPU_TRIPLE_FAULT, /* SHUTDOWN intercept */
	VCPU_ERROR,	   /* the hypervisor refused something: see error */
	VCPU_STOPPED,	   /* another vCPU ended the VM */
};

/* One exit, decoded from the VMCB into the fields every handler needs. */
struct vm_exit {
	uint64_t code;	/* SVM_EXIT_* */
	uint64_t info1; /* EXITINFO1 */
	uint64_t info2; /* EXITINFO2 */
	uint64_t rip;	/* guest RIP of the exiting instruction */
};

struct vm;
struct vcpu;

/* A nested page fault handler: 1 = handled (retry the access), 0 = not mine, <0 = error. */
typedef int (*pager_fn)(struct vm *vm, uint64_t gpa, void *arg);

/* Emulated MMIO: called for each guest load/store in [gpa, gpa + size). */
struct mmio_region {
	uint64_t gpa, size;
	/* 0 = ok, <0 = error (ends the VM). For reads, store the value in *value. */
	int (*access)(struct vcpu *vcpu, uint64_t gpa, bool is_write, int size, uint64_t *value,
		      void *arg);
	void *arg;
};

/* Emulated port: in/out of size 1, 2 or 4 bytes. 0 = ok, <0 = error. */
struct port_handler {
	uint16_t first, last;
	int (*io)(struct vcpu *vcpu, uint16_t port, bool is_in, int size, uint32_t *value,
		  void *arg);
	void *arg;
};

struct vcpu {
	struct vm *vm;
	int id;
	struct vmcb *vmcb;
	uint64_t regs[NR_GPRS]; /* RAX and RSP live in the VMCB while the guest runs */
	struct vm_exit exit;
	struct thread *thread;
	enum vcpu_verdict verdict;
	uint64_t exit_code;
	uint64_t exits; /* total exits, for statistics */
	uint64_t npf_exits;
	uint64_t npf_last_gpa; /* the page of the last #NPF the pager "handled" ... */
	uint32_t npf_repeats;  /* ... and how many times in a row (livelock check) */
	uint64_t intr_exits;   /* host interrupts that arrived while the guest ran */
	uint64_t test_msr;     /* a scratch MSR the tests read and write */
	char crash[96];	       /* a triple fault: the event and where, for the verdict */
	char line[128];	       /* console output waiting for its newline */
	int line_len;
	bool flush_tlb; /* flush the guest TLB at the next VMRUN */
};

struct vm {
	char name[32];
	int id;
	int nvcpus;
	uint64_t mem_size; /* guest RAM: [0, mem_size) */
	struct npt npt;
	struct spinlock npt_lock; /* serializes the pager and every NPT change */
	pager_fn pager;
	void *pager_arg;
	struct mmio_region mmio[VM_MAX_MMIO];
	int nmmio;
	struct port_handler ports[VM_MAX_PORTS];
	int nports;
	volatile bool stopping; /* a vCPU ended the VM: the others leave at their next exit */
	char console[2048];	/* everything the guest printed, for tests to check */
	size_t console_len;
	/* Optional, for reports on a crashed guest (guest_boot sets them): */
	int (*symbolize)(void *arg, uint64_t addr, char *buf, size_t len); /* "kmain+0x5" */
	void (*describe_page)(void *arg, uint64_t gpa); /* prints who filled the page */
	void *report_arg;
	bool error_taken;
	char error[160];	  /* the first error, for the verdict */
	struct faultlog faultlog; /* every pager call, for the fault map */
	struct vcpu vcpus[VM_MAX_VCPUS];
};

/* ---- svm.c ---- */
/* Check CPUID and turn SVM on for this CPU (once). 0, or -1 if it has no SVM/NPT. */
int svm_init_cpu(void);
bool svm_available(void);
/* If this CPU lacks SVM or NPT, say what is missing and how to run QEMU; end the run. */
void kev_require_svm(void);
/* At boot: turn SVM on on every CPU, if the CPUs have it. */
void kev_init(void);
extern bool kev_guest_irqs_off; /* host interrupts wait while a guest runs (vmrun.S) */

/* ---- vm.c ---- */
void kev_setup(void); /* the I/O and MSR permission maps, shared by every VM */
struct vm *vm_create(const char *name, int nvcpus, uint64_t mem_size);
void vm_destroy(struct vm *vm); /* frees every page the VM allocated */
void vm_set_pager(struct vm *vm, pager_fn fn, void *arg);
const char *vm_pager_name(const struct vm *vm); /* for reports: the function to blame */
int vm_add_mmio(struct vm *vm, uint64_t gpa, uint64_t size,
		int (*access)(struct vcpu *, uint64_t, bool, int, uint64_t *, void *), void *arg);
int vm_add_ports(struct vm *vm, uint16_t first, uint16_t last,
		 int (*io)(struct vcpu *, uint16_t, bool, int, uint32_t *, void *), void *arg);
/* Give the guest fresh zeroed RAM pages for [gpa, gpa + len), all rights. */
int vm_alloc_ram(struct vm *vm, uint64_t gpa, uint64_t len);
/* Copy bytes into / out of guest-physical memory (must be mapped, or the pager maps it). */
int vm_write_gpa(struct vm *vm, uint64_t gpa, const void *src, size_t len);
int vm_read_gpa(struct vm *vm, uint64_t gpa, void *dst, size_t len);
/* Through the guest's own page table when its paging is on (identity when off). */
int vcpu_gva_to_gpa(struct vcpu *vcpu, uint64_t gva, uint64_t *gpa);
int vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *dst, size_t len);
/* End the whole VM with an error (printed, kept in vm->error). */
void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For gdb (guest-insn-student): host address of guest-virtual gva through npt_gva2hpa, or 0. */
uint64_t kev_debug_gva2hva(struct vcpu *vcpu, uint64_t gva);
/* Print a crashed vCPU's state: event, RIP (symbolized), bytes there, its page. */
void vcpu_report_crash(struct vcpu *vcpu);
/* Build guest page tables at table_gpa (6 pages of RAM) identity-mapping [0, 4 GiB). */
int vm_build_identity_page_table(struct vm *vm, uint64_t table_gpa);

/* Initial register states. */
void vcpu_init_protected32(struct vcpu *vcpu, uint64_t rip); /* like a multiboot loader */
void vcpu_init_long64(struct vcpu *vcpu, uint64_t rip, uint64_t cr3, uint64_t rsp);

/* Start every vCPU (each pinned to host CPU id % ncpu), wait for all to end. */
void vm_run(struct vm *vm);
/* The VM's verdict as one line: "exited 0", "triple fault", "error: ...". */
const char *vm_verdict_string(struct vm *vm, char *buf, size_t len);

/* ---- vcpu.c ---- */
void vcpu_loop(void *arg);		     /* the thread body: VMRUN, handle the exit, repeat */
void vcpu_describe(const struct vcpu *vcpu); /* "  in guest: ..." for the watchdog */
void vcpu_end(struct vcpu *vcpu, enum vcpu_verdict verdict, uint64_t code);

/* ---- exit.c ---- */
/* Handle one exit. Returns true to keep running the guest. */
bool handle_exit(struct vcpu *vcpu);
void console_flush(struct vcpu *vcpu);
/* Print guest text on the host console, line by line, prefixed "guest| ". */
void vcpu_console_write(struct vcpu *vcpu, const char *text, size_t len);

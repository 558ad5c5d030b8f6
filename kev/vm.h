/*
 * vm.h: KeV's virtual machines and vCPUs on AMD SVM with nested paging, and
 * their life: create, configure, run, destroy (vm.c).
 *
 * A VM owns guest-physical memory through its nested page table (an opaque
 * struct npt: Project 3 implements it, guest_mem.h says what kev asks of it)
 * and runs each vCPU in a kernel thread pinned to one host CPU. The run loop
 * (vcpu.c) enters the guest with VMRUN and hands every exit to a handler
 * chosen by exit code (exit.c). Nested page faults go first to the VM's
 * fault handler (Project 3's lazy pager plugs in there), then to MMIO regions.
 *
 * The headers at the end declare what a device, a pager or a test uses on a
 * VM; each belongs to its own .c file.
 */
#pragma once
#include "faultlog.h"
#include "kev_abi.h"
#include "spinlock.h"
#include "svm.h"
#include "thread.h"
#include "types.h"

#define VM_MAX_VCPUS MAX_CPUS
#define VM_MAX_MMIO  4
#define VM_MAX_PORTS 8

/* Guest general-purpose registers, numbered as x86 encodes them. */
enum vcpu_gpr {
	VCPU_RAX,
	VCPU_RCX,
	VCPU_RDX,
	VCPU_RBX,
	VCPU_RSP,
	VCPU_RBP,
	VCPU_RSI,
	VCPU_RDI,
	VCPU_R8,
	VCPU_R9,
	VCPU_R10,
	VCPU_R11,
	VCPU_R12,
	VCPU_R13,
	VCPU_R14,
	VCPU_R15,
	VCPU_NR_GPRS
};

/* How a vCPU ended. */
enum vcpu_verdict {
	VCPU_RUNNING = 0,
	VCPU_EXITED,	   /* HC_EXIT: guest_code is the guest's */
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
struct npt; /* Project 3's nested page table: kev only holds it (guest_mem.h) */

/*
 * A nested page fault handler, called with vm->npt_lock held for the page gpa:
 * 1 = handled (the page is mapped now), 0 = not mine, <0 = error.
 */
typedef int (*npf_handler_fn)(struct vm *vm, uint64_t gpa, void *arg);

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
	uint64_t regs[VCPU_NR_GPRS]; /* RAX and RSP live in the VMCB while the guest runs */
	struct vm_exit exit;	     /* the last #VMEXIT (exit.code: SVM_EXIT_*) */
	struct thread *thread;
	enum vcpu_verdict verdict;
	uint64_t guest_code; /* the guest's own exit code (HC_EXIT's argument) */
	uint64_t exits;	     /* total exits, for statistics */
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
	int first_cpu;		      /* vCPU i runs on host CPU (first_cpu + i) % ncpu */
	uint64_t mem_size;	      /* guest RAM: [0, mem_size) */
	struct npt *npt;	      /* guest-physical memory (guest_mem.h's npt_ops) */
	struct spinlock npt_lock;     /* serializes the fault handler and every NPT change */
	npf_handler_fn fault_handler; /* vm_set_fault_handler */
	void *fault_arg;
	const char *fault_handler_name; /* for reports: the function to blame */
	struct mmio_region mmio[VM_MAX_MMIO];
	int nmmio;
	struct port_handler ports[VM_MAX_PORTS];
	int nports;
	volatile bool stopping; /* a vCPU ended the VM: the others leave at their next exit */
	char console[2048];	/* everything the guest printed, for tests to check */
	size_t console_len;
	/* Optional, for reports on a crashed guest (guest_boot sets them): */
	int (*symbolize)(void *arg, uint64_t addr, char *buf, size_t len); /* "kmain+0x5" */
	/* Prints where the code at rip came from (paging_off: rip is guest-physical). */
	void (*describe_code)(void *arg, uint64_t rip, bool paging_off);
	void *report_arg;
	bool error_taken;
	char error[160];	       /* the first error, for the verdict */
	const struct vcpu *error_vcpu; /* whose error that is (NULL: the host's) */
	struct faultlog faultlog;      /* every fault handler call, for the fault map */
	struct vcpu vcpus[VM_MAX_VCPUS];
};

/* NULL if the CPU has no SVM, nvcpus is out of range or memory ran out. */
struct vm *vm_create(const char *name, int nvcpus, uint64_t mem_size);
void vm_destroy(struct vm *vm); /* frees every page the VM allocated */
/* Who maps guest RAM on demand; name is the function reports blame (NULL: fn's symbol). */
void vm_set_fault_handler(struct vm *vm, npf_handler_fn fn, void *arg, const char *name);
int vm_add_mmio(struct vm *vm, uint64_t gpa, uint64_t size,
		int (*access)(struct vcpu *, uint64_t, bool, int, uint64_t *, void *), void *arg);
int vm_add_ports(struct vm *vm, uint16_t first, uint16_t last,
		 int (*io)(struct vcpu *, uint16_t, bool, int, uint32_t *, void *), void *arg);
/* Start every vCPU (each pinned to its host CPU, see first_cpu), wait for all to end. */
void vm_run(struct vm *vm);

#include "console.h"   /* vcpu_console_write */
#include "guest_mem.h" /* vm_read_gpa, vm_write_gpa, vcpu_read_gva, ... */
#include "report.h"    /* vcpu_fail, vm_verdict_string */
#include "vcpu.h"      /* vcpu_init_protected32, vcpu_init_long64 */

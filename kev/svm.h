/*
 * svm.h: AMD SVM hardware structures (AMD64 APM vol. 2, chapter 15 and
 * appendix B). Names follow Linux KVM's arch/x86/include/asm/svm.h.
 *
 * The VMCB (virtual machine control block; Intel: VMCS) is one 4 KiB page:
 * a control area (what to intercept, why we exited) and, at 0x400, a save
 * area holding the guest's registers while the host runs.
 */
#pragma once
#include "types.h"

struct vmcb_seg {
	uint16_t selector;
	uint16_t attrib; /* compressed: access byte in 0-7, G/D/L/AVL in 8-11 */
	uint32_t limit;
	uint64_t base;
} __packed;

struct vmcb_control_area {
	uint32_t intercept_cr;	       /* 0x000: CR reads (0-15), writes (16-31) */
	uint32_t intercept_dr;	       /* 0x004 */
	uint32_t intercept_exceptions; /* 0x008: one bit per vector */
	uint32_t intercept_misc1;      /* 0x00C: INTERCEPT_INTR ... */
	uint32_t intercept_misc2;      /* 0x010: INTERCEPT_VMRUN ... */
	uint8_t reserved_1[0x03C - 0x014];
	uint16_t pause_filter_thresh; /* 0x03C */
	uint16_t pause_filter_count;  /* 0x03E */
	uint64_t iopm_base_pa;	      /* 0x040 */
	uint64_t msrpm_base_pa;	      /* 0x048 */
	uint64_t tsc_offset;	      /* 0x050 */
	uint32_t asid;		      /* 0x058 */
	uint8_t tlb_ctl;	      /* 0x05C */
	uint8_t reserved_2[3];
	uint64_t int_ctl;	/* 0x060: V_TPR, V_IRQ, V_INTR_MASKING ... */
	uint64_t int_state;	/* 0x068: interrupt shadow */
	uint64_t exit_code;	/* 0x070 */
	uint64_t exit_info_1;	/* 0x078 */
	uint64_t exit_info_2;	/* 0x080 */
	uint64_t exit_int_info; /* 0x088 */
	uint64_t nested_ctl;	/* 0x090: bit 0 = nested paging on */
	uint8_t reserved_3[0x0A8 - 0x098];
	uint64_t event_inj;  /* 0x0A8 */
	uint64_t nested_cr3; /* 0x0B0: root of the nested page table (Intel: EPTP) */
	uint64_t virt_ext;   /* 0x0B8 */
	uint32_t clean;	     /* 0x0C0 */
	uint32_t reserved_4;
	uint64_t next_rip; /* 0x0C8: always 0 under QEMU (no NRIP save) */
	uint8_t insn_len;  /* 0x0D0: decode assists, also absent under QEMU */
	uint8_t insn_bytes[15];
	uint8_t reserved_5[0x400 - 0x0E0];
} __packed;

struct vmcb_save_area {
	struct vmcb_seg es, cs, ss, ds, fs, gs; /* 0x400 */
	struct vmcb_seg gdtr, ldtr, idtr, tr;	/* 0x460 */
	uint8_t reserved_1[0x4CB - 0x4A0];
	uint8_t cpl; /* 0x4CB */
	uint32_t reserved_2;
	uint64_t efer; /* 0x4D0 */
	uint8_t reserved_3[0x548 - 0x4D8];
	uint64_t cr4; /* 0x548 */
	uint64_t cr3;
	uint64_t cr0;
	uint64_t dr7;
	uint64_t dr6;
	uint64_t rflags;
	uint64_t rip; /* 0x578 */
	uint8_t reserved_4[0x5D8 - 0x580];
	uint64_t rsp; /* 0x5D8 */
	uint8_t reserved_5[0x5F8 - 0x5E0];
	uint64_t rax;					     /* 0x5F8 */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base; /* 0x600 */
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t cr2; /* 0x640 */
	uint8_t reserved_6[0x668 - 0x648];
	uint64_t g_pat; /* 0x668 */
	uint64_t dbgctl;
	uint64_t br_from, br_to, last_excp_from, last_excp_to;
} __packed;

struct vmcb {
	struct vmcb_control_area control;
	struct vmcb_save_area save;
} __packed;

_Static_assert(sizeof(struct vmcb_control_area) == 0x400, "VMCB control area layout");
_Static_assert(__builtin_offsetof(struct vmcb_save_area, efer) == 0xD0, "VMCB save area layout");
_Static_assert(__builtin_offsetof(struct vmcb_save_area, rip) == 0x178, "VMCB save area layout");
_Static_assert(__builtin_offsetof(struct vmcb_save_area, rsp) == 0x1D8, "VMCB save area layout");
_Static_assert(__builtin_offsetof(struct vmcb_save_area, rax) == 0x1F8, "VMCB save area layout");
_Static_assert(__builtin_offsetof(struct vmcb_save_area, g_pat) == 0x268, "VMCB save area layout");

/* intercept_misc1 */
#define INTERCEPT_INTR	    (1U << 0)
#define INTERCEPT_NMI	    (1U << 1)
#define INTERCEPT_CPUID	    (1U << 18)
#define INTERCEPT_HLT	    (1U << 24)
#define INTERCEPT_IOIO_PROT (1U << 27)
#define INTERCEPT_MSR_PROT  (1U << 28)
#define INTERCEPT_SHUTDOWN  (1U << 31)
/* intercept_misc2 */
#define INTERCEPT_VMRUN	  (1U << 0)
#define INTERCEPT_VMMCALL (1U << 1)
#define INTERCEPT_VMLOAD  (1U << 2)
#define INTERCEPT_VMSAVE  (1U << 3)
#define INTERCEPT_STGI	  (1U << 4)
#define INTERCEPT_CLGI	  (1U << 5)
#define INTERCEPT_SKINIT  (1U << 6)

#define V_INTR_MASKING		 (1UL << 24)
#define TLB_CONTROL_FLUSH_ALL	 1
#define SVM_NESTED_CTL_NP_ENABLE 1

/* Exit codes (VMCB exit_code). */
#define SVM_EXIT_INTR	  0x060
#define SVM_EXIT_NMI	  0x061
#define SVM_EXIT_CPUID	  0x072
#define SVM_EXIT_HLT	  0x078
#define SVM_EXIT_IOIO	  0x07B
#define SVM_EXIT_MSR	  0x07C
#define SVM_EXIT_SHUTDOWN 0x07F
#define SVM_EXIT_VMRUN	  0x080
#define SVM_EXIT_VMMCALL  0x081
#define SVM_EXIT_VMLOAD	  0x082
#define SVM_EXIT_VMSAVE	  0x083
#define SVM_EXIT_STGI	  0x084
#define SVM_EXIT_CLGI	  0x085
#define SVM_EXIT_SKINIT	  0x086
#define SVM_EXIT_NPF	  0x400	      /* nested page fault (Intel: EPT violation) */
#define SVM_EXIT_INVALID  0xFFFFFFFFU /* QEMU writes it as 32 bits: compare the low half */

/*
 * exit_int_info: the event (exception, interrupt) the CPU was delivering to the
 * guest when the exit happened, e.g. the #UD that became a triple fault.
 * Linux: SVM_EXITINTINFO_*. The error code, if any, is in bits 63..32.
 */
#define SVM_EXITINTINFO_VEC_MASK   0xFFU
#define SVM_EXITINTINFO_TYPE_SHIFT 8 /* bits 10..8: 0 INTR, 2 NMI, 3 exception, 4 soft int */
#define SVM_EXITINTINFO_TYPE_EXEPT 3
#define SVM_EXITINTINFO_TYPE_SOFT  4
#define SVM_EXITINTINFO_VALID_ERR  (1U << 11)
#define SVM_EXITINTINFO_VALID	   (1U << 31)
/* "#UD (vector 6, exception)", with the error code if there is one, or "no event". */
void svm_describe_event(uint64_t exit_int_info, char *buf, size_t len);

/* IOIO exit_info_1 */
#define SVM_IOIO_TYPE_IN     (1U << 0)
#define SVM_IOIO_STR	     (1U << 2)
#define SVM_IOIO_REP	     (1U << 3)
#define SVM_IOIO_SIZE_SHIFT  4 /* bits 4-6: 1, 2, 4 bytes */
#define SVM_IOIO_ASIZE_SHIFT 7 /* bits 7-9: 16, 32, 64-bit addresses */
#define SVM_IOIO_PORT_SHIFT  16

/* NPF exit_info_1: an x86 page-fault error code, plus where it happened. */
#define NPF_PRESENT	       (1UL << 0)
#define NPF_WRITE	       (1UL << 1)
#define NPF_USER	       (1UL << 2)
#define NPF_FETCH	       (1UL << 4)
#define NPF_IN_GUEST_PAGE_WALK (1UL << 33) /* the CPU was reading the guest's page table */

#define MSR_VM_CR	0xC0010114
#define VM_CR_SVMDIS	(1UL << 4)
#define MSR_VM_HSAVE_PA 0xC0010117

/* ---- svm.c ---- */
/* If this CPU lacks SVM or NPT, say what is missing and how to run QEMU; end the run. */
void kev_require_svm(void);
bool svm_available(void);
/* At boot: turn SVM on on every CPU, if the CPUs have it. */
void kev_init(void);
/* Turn SVM on for the calling CPU (once). 0, or -1 if it has no SVM/NPT. */
int svm_enable_cpu(void);
/* The calling CPU's page for the host state VMSAVE/VMLOAD keep around VMRUN. */
uint64_t svm_host_vmcb_pa(void);
/* Under record (opt/keos/record): host interrupts wait while a guest runs (vmrun.S). */
extern bool kev_guest_irqs_off;

/* ---- vmrun.S ---- */
/* Enter the guest at vmcb_pa with its other registers in regs[]; back at its #VMEXIT. */
void svm_vmrun(uint64_t vmcb_pa, uint64_t *regs, uint64_t host_vmcb_pa);

/*
 * guest_mem.h: guest memory as the hypervisor reaches it (guest_mem.c).
 *
 * kev never walks a page table itself. Guest-physical addresses go through
 * the VM's nested page table, guest-virtual ones through the guest's own page
 * table as well: both translations are Project 3's (npt_gpa2hpa,
 * npt_gva2hpa), which kev calls through the table below, the way KVM calls
 * its vendor code through kvm_x86_ops.
 */
#pragma once
#include "types.h"

struct npt;
struct vm;
struct vcpu;

/*
 * What kev asks of a nested page table. The kernel's composition root
 * (project3/provided/kernel.c) hands kev Project 3's at boot. The int
 * functions return 0 or a negative error, which strerror names.
 */
struct npt_ops {
	struct npt *(*create)(void);	      /* an empty table, or NULL */
	void (*destroy)(struct npt *npt);     /* frees it and every page it maps */
	uint64_t (*root_pa)(struct npt *npt); /* for the VMCB's nCR3 */
	/* Map the host page (kernel virtual) at gpa, readable, writable, executable. */
	int (*map)(struct npt *npt, uint64_t gpa, void *page);
	/* The host-physical address of guest-physical byte gpa. */
	int (*gpa2hpa)(struct npt *npt, uint64_t gpa, uint64_t *hpa);
	/* The same for a guest-virtual byte, through the guest's page table at guest_cr3. */
	int (*gva2hpa)(struct npt *npt, uint64_t guest_cr3, uint64_t gva, uint64_t *hpa);
	const char *(*strerror)(int err);
};

/* Once, at boot, before the first VM. */
void kev_set_npt_ops(const struct npt_ops *ops);
extern const struct npt_ops *kev_npt; /* the ops kev_set_npt_ops installed */

/* Give the guest fresh zeroed RAM pages for [gpa, gpa + len), all rights. 0 or <0. */
int vm_alloc_ram(struct vm *vm, uint64_t gpa, uint64_t len);
/*
 * Ask the VM's fault handler (the lazy pager) for the page holding gpa; call
 * with vm->npt_lock held. 1 = mapped now, 0 = not its page (or no handler,
 * or outside RAM), <0 = its error.
 */
int vm_fault_in(struct vm *vm, uint64_t gpa);
/* Copy bytes into / out of guest-physical memory (mapped, or the fault handler maps it). */
int vm_write_gpa(struct vm *vm, uint64_t gpa, const void *src, size_t len);
int vm_read_gpa(struct vm *vm, uint64_t gpa, void *dst, size_t len);
/*
 * The same at guest-virtual addresses, as the vCPU sees them now: identity
 * while its paging is off, else through npt_gva2hpa. 0, or the translation's
 * error (negative) for the first page that failed.
 */
int vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *dst, size_t len);
int vcpu_write_gva(struct vcpu *vcpu, uint64_t gva, const void *src, size_t len);
/* For messages: the translation vcpu_read_gva uses now ("npt_gva2hpa" with paging on). */
const char *vcpu_translation_name(struct vcpu *vcpu);
/* For gdb (guest-insn-student) and crash reports: host address of gva, or 0. */
uint64_t kev_debug_gva2hva(struct vcpu *vcpu, uint64_t gva);

/*
 * vm.c: creating, configuring, running and destroying VMs; guest memory access.
 */
#include "vm.h"
#include "mm.h"
#include "pager.h"
#include "printk.h"
#include "x86.h"

/* Shared by every VM: intercept every port and every MSR but those listed in msrpm_init(). */
static void *iopm, *msrpm;
static struct spinlock setup_lock = SPINLOCK_INIT("kev setup");
static int next_vm_id;

#define IOPM_PAGES  3
#define MSRPM_PAGES 2

/* Let the guest access an MSR directly (clear its two intercept bits). */
static void msrpm_allow(uint32_t msr)
{
	uint32_t base;
	if (msr < 0x2000)
		base = 0;
	else if (msr >= 0xC0000000 && msr < 0xC0002000)
		base = 0x800, msr -= 0xC0000000;
	else if (msr >= 0xC0010000 && msr < 0xC0012000)
		base = 0x1000, msr -= 0xC0010000;
	else
		return;
	uint8_t *bits = (uint8_t *)msrpm + base + msr / 4;
	*bits &= ~(3 << ((msr % 4) * 2));
}

/* The MSRs the VMCB holds for the guest anyway: no reason to exit for them. */
static void msrpm_init(void)
{
	memset(msrpm, 0xFF, MSRPM_PAGES * PAGE_SIZE);
	static const uint32_t passthrough[] = {
	    MSR_EFER,
	    MSR_FS_BASE,
	    MSR_GS_BASE,
	    MSR_KERNEL_GS_BASE,
	    0xC0000081 /* STAR */,
	    0xC0000082 /* LSTAR */,
	    0xC0000083 /* CSTAR */,
	    0xC0000084 /* SFMASK */,
	    0x174,
	    0x175,
	    0x176 /* SYSENTER_CS/ESP/EIP */,
	};
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++)
		msrpm_allow(passthrough[i]);
}

void kev_setup(void)
{
	spin_lock(&setup_lock);
	if (!iopm) {
		iopm = pages_alloc(IOPM_PAGES);
		msrpm = pages_alloc(MSRPM_PAGES);
		if (!iopm || !msrpm)
			panic("kev: no memory for the I/O and MSR permission maps");
		memset(iopm, 0xFF, IOPM_PAGES * PAGE_SIZE);
		msrpm_init();
	}
	spin_unlock(&setup_lock);
}

static void vmcb_init_control(struct vm *vm, struct vmcb *vmcb)
{
	struct vmcb_control_area *c = &vmcb->control;
	c->intercept_misc1 = INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_CPUID | INTERCEPT_HLT |
			     INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN;
	c->intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD |
			     INTERCEPT_VMSAVE | INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT;
	c->iopm_base_pa = V2P(iopm);
	c->msrpm_base_pa = V2P(msrpm);
	/* One ASID per VM (1..15: QEMU offers 16), and a flush at the first run. */
	c->asid = 1 + vm->id % 15;
	c->int_ctl = V_INTR_MASKING;
	c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	c->nested_cr3 = npt_root_pa(&vm->npt);
}

struct vm *vm_create(const char *name, int nvcpus, uint64_t mem_size)
{
	if (nvcpus < 1 || nvcpus > VM_MAX_VCPUS)
		return NULL;
	if (!svm_available())
		return NULL;
	kev_setup();
	struct vm *vm = kzalloc(sizeof(*vm));
	if (!vm)
		return NULL;
	strncpy(vm->name, name, sizeof(vm->name) - 1);
	vm->id = __atomic_fetch_add(&next_vm_id, 1, __ATOMIC_RELAXED);
	vm->nvcpus = nvcpus;
	vm->mem_size = mem_size;
	spin_init(&vm->npt_lock, "npt_lock");
	faultlog_init(&vm->faultlog);
	if (npt_init(&vm->npt) != 0)
		goto fail;
	for (int i = 0; i < nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->id = i;
		v->vmcb = page_alloc();
		if (!v->vmcb)
			goto fail;
		vmcb_init_control(vm, v->vmcb);
		v->flush_tlb = true;
	}
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	faultlog_print(vm);
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].vmcb)
			page_free(vm->vcpus[i].vmcb);
	if (vm->npt.pml4)
		npt_destroy(&vm->npt);
	kfree(vm);
}

void vm_set_pager(struct vm *vm, pager_fn fn, void *arg)
{
	vm->pager = fn;
	vm->pager_arg = arg;
}

int vm_add_mmio(struct vm *vm, uint64_t gpa, uint64_t size,
		int (*access)(struct vcpu *, uint64_t, bool, int, uint64_t *, void *), void *arg)
{
	if (vm->nmmio == VM_MAX_MMIO)
		return -1;
	vm->mmio[vm->nmmio++] = (struct mmio_region){gpa, size, access, arg};
	return 0;
}

int vm_add_ports(struct vm *vm, uint16_t first, uint16_t last,
		 int (*io)(struct vcpu *, uint16_t, bool, int, uint32_t *, void *), void *arg)
{
	if (vm->nports == VM_MAX_PORTS)
		return -1;
	vm->ports[vm->nports++] = (struct port_handler){first, last, io, arg};
	return 0;
}

int vm_alloc_ram(struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (uint64_t a = ALIGN_DOWN(gpa, PAGE_SIZE); a < gpa + len; a += PAGE_SIZE) {
		void *page = page_alloc();
		if (!page)
			return -NPT_ENOMEM;
		spin_lock(&vm->npt_lock);
		int err = npt_map(&vm->npt, a, page, NPT_PERM_ALL);
		spin_unlock(&vm->npt_lock);
		if (err) {
			page_free(page);
			return err;
		}
	}
	return 0;
}

const char *vm_pager_name(const struct vm *vm)
{
	/* Behind the provided pager_fault, the student's handler does the work. */
	if (vm->pager == pager_fault)
		return "pager_handle_fault";
	uint64_t off;
	const char *name = symbol_lookup((uint64_t)vm->pager, &off);
	return name ? name : "the pager";
}

/* The pager said "mapped" (1) and the page is not: name it, keep it as the VM's error. */
static void pager_did_not_map(struct vm *vm, uint64_t gpa)
{
	char msg[sizeof(vm->error)];
	snprintf(msg, sizeof(msg), "%s returned 1 for guest-physical 0x%lx but did not map it",
		 vm_pager_name(vm), gpa);
	printk("kev: %s: %s\n", vm->name, msg);
	if (!__atomic_test_and_set(&vm->error_taken, __ATOMIC_SEQ_CST))
		memcpy(vm->error, msg, sizeof(msg));
}

/*
 * Host address of guest-physical byte gpa. If it is not mapped yet, ask the
 * pager (the lazy pager loads pages on demand, for us as for the guest).
 */
static void *gpa_to_host(struct vm *vm, uint64_t gpa)
{
	uint64_t hpa;
	spin_lock(&vm->npt_lock);
	int err = npt_gpa2hpa(&vm->npt, gpa, &hpa);
	if (err == -NPT_ENOENT && vm->pager && gpa < vm->mem_size &&
	    vm->pager(vm, ALIGN_DOWN(gpa, PAGE_SIZE), vm->pager_arg) == 1 &&
	    (err = npt_gpa2hpa(&vm->npt, gpa, &hpa)) == -NPT_ENOENT)
		pager_did_not_map(vm, gpa);
	spin_unlock(&vm->npt_lock);
	return err ? NULL : P2V(hpa);
}

/* Copy between host memory and guest-physical memory, a page piece at a time. */
static int copy_gpa(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	uint8_t *p = buf;
	while (len > 0) {
		size_t chunk = MIN(len, PAGE_SIZE - gpa % PAGE_SIZE);
		uint8_t *host = gpa_to_host(vm, gpa);
		if (!host)
			return -1;
		if (to_guest)
			memcpy(host, p, chunk);
		else
			memcpy(p, host, chunk);
		gpa += chunk, p += chunk, len -= chunk;
	}
	return 0;
}

int vm_write_gpa(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
	return copy_gpa(vm, gpa, (void *)src, len, true);
}

int vm_read_gpa(struct vm *vm, uint64_t gpa, void *dst, size_t len)
{
	return copy_gpa(vm, gpa, dst, len, false);
}

/*
 * Guest-virtual to guest-physical, the way the guest's CPU sees it: identity
 * while its paging is off, else a walk of its own 4-level table (2 MiB and
 * 1 GiB pages included). Table entries are read with vm_read_gpa, so a table
 * the lazy pager has not loaded yet gets loaded.
 */
int vcpu_gva_to_gpa(struct vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	if (!(s->cr0 & (1UL << 31))) {
		*gpa = gva & 0xFFFFFFFF;
		return 0;
	}
	uint64_t table = s->cr3 & NPTE_ADDR_MASK;
	for (int level = 3; level >= 0; level--) {
		uint64_t e;
		if (vm_read_gpa(vcpu->vm, table + 8 * NPT_INDEX(level, gva), &e, 8) != 0)
			return -1;
		if (!(e & NPTE_P))
			return -1;
		if (level == 0 || ((e & NPTE_PS) && level <= 2)) {
			uint64_t size = NPT_LEVEL_SIZE(level);
			*gpa = (e & NPTE_ADDR_MASK & ~(size - 1)) | (gva & (size - 1));
			return 0;
		}
		table = e & NPTE_ADDR_MASK;
	}
	return -1;
}

int vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *dst, size_t len)
{
	uint8_t *p = dst;
	while (len > 0) {
		size_t chunk = MIN(len, PAGE_SIZE - gva % PAGE_SIZE);
		uint64_t gpa;
		if (vcpu_gva_to_gpa(vcpu, gva, &gpa) != 0 ||
		    vm_read_gpa(vcpu->vm, gpa, p, chunk) != 0)
			return -1;
		gva += chunk, p += chunk, len -= chunk;
	}
	return 0;
}

/*
 * Identity-map the guest's first 4 GiB with 2 MiB pages (so MMIO addresses
 * like 0xcafe0000 are reachable): a PML4 at table_gpa, a PDPT after it, then
 * four page directories. The six table pages must already be guest RAM.
 */
int vm_build_identity_page_table(struct vm *vm, uint64_t table_gpa)
{
	uint64_t pdpt = table_gpa + PAGE_SIZE, pd = table_gpa + 2 * PAGE_SIZE;
	uint64_t pml4e = pdpt | NPTE_P | NPTE_RW;
	if (vm_write_gpa(vm, table_gpa, &pml4e, 8) != 0)
		return -1;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t pdpte = (pd + i * PAGE_SIZE) | NPTE_P | NPTE_RW;
		if (vm_write_gpa(vm, pdpt + 8 * i, &pdpte, 8) != 0)
			return -1;
	}
	for (uint64_t i = 0; i < 4 * 512; i++) {
		uint64_t pde = (i << 21) | NPTE_P | NPTE_RW | NPTE_PS;
		if (vm_write_gpa(vm, pd + 8 * i, &pde, 8) != 0)
			return -1;
	}
	return 0;
}

static void seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit)
{
	*s = (struct vmcb_seg){.selector = sel, .attrib = attrib, .limit = limit, .base = 0};
}

/* What every guest starts with, whatever its mode. */
static void vcpu_init_common(struct vcpu *vcpu, uint64_t rip)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	memset(vcpu->regs, 0, sizeof(vcpu->regs));
	seg(&s->ldtr, 0, 0x0082, 0xFFFF);
	seg(&s->tr, 0, 0x008B, 0xFFFF);
	seg(&s->gdtr, 0, 0, 0xFFFF);
	seg(&s->idtr, 0, 0, 0xFFFF);
	s->efer = EFER_SVME; /* VMRUN refuses a guest without it, even in 32-bit mode */
	s->dr6 = 0xFFFF0FF0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->rip = rip;
	s->g_pat = 0x0007040600070406UL; /* the power-on PAT */
}

void vcpu_init_protected32(struct vcpu *vcpu, uint64_t rip)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	vcpu_init_common(vcpu, rip);
	seg(&s->cs, 0x08, 0x0C9B, 0xFFFFFFFF); /* 32-bit code, flat */
	seg(&s->ds, 0x10, 0x0C93, 0xFFFFFFFF);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->cr0 = 0x31; /* PE | ET | NE */
	s->cr3 = 0;
	s->cr4 = 0;
}

void vcpu_init_long64(struct vcpu *vcpu, uint64_t rip, uint64_t cr3, uint64_t rsp)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	vcpu_init_common(vcpu, rip);
	seg(&s->cs, 0x08, 0x0A9B, 0xFFFFFFFF); /* 64-bit code */
	seg(&s->ds, 0x10, 0x0C93, 0xFFFFFFFF);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->cr0 = 0x80050033; /* PG | WP | NE | ET | MP | PE */
	s->cr3 = cr3;
	s->cr4 = 1 << 5; /* PAE */
	s->efer = EFER_SVME | EFER_LME | EFER_LMA | EFER_NXE;
	s->rsp = rsp;
}

void vm_run(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		char name[32];
		snprintf(name, sizeof(name), "%s/vcpu%d", vm->name, i);
		v->verdict = VCPU_RUNNING;
		v->thread = thread_create(name, vcpu_loop, v, i % ncpu);
		if (!v->thread)
			panic("vm_run: cannot create a thread for %s", name);
	}
	for (int i = 0; i < vm->nvcpus; i++)
		thread_join(vm->vcpus[i].thread);
	faultlog_print_if_failed(vm);
}

uint64_t kev_debug_gva2hva(struct vcpu *vcpu, uint64_t gva)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	uint64_t hpa;
	if (!(s->cr0 & (1UL << 31)))
		return npt_gpa2hpa(&vcpu->vm->npt, gva & 0xFFFFFFFF, &hpa) ? 0 : (uint64_t)P2V(hpa);
	return npt_gva2hpa(&vcpu->vm->npt, s->cr3, gva, &hpa) ? 0 : (uint64_t)P2V(hpa);
}

/*
 * What a TA needs to place a guest crash: the event being delivered, the RIP
 * with the guest ELF's own symbol, the bytes there, and the guest-physical page
 * with whoever filled it (vm->describe_page: the pager's loaders).
 */
void vcpu_report_crash(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	char event[64], sym[48] = "";
	svm_describe_event(vcpu->vmcb->control.exit_int_info, event, sizeof(event));
	if (vm->symbolize && vm->symbolize(vm->report_arg, s->rip, sym + 1, sizeof(sym) - 1) == 0)
		sym[0] = ' ';
	printk("kev:   exit_int_info 0x%lx: %s\n", vcpu->vmcb->control.exit_int_info, event);
	printk("kev:   rip 0x%lx%s  rsp 0x%lx  cr0 0x%lx cr3 0x%lx efer 0x%lx\n", s->rip, sym,
	       s->rsp, s->cr0, s->cr3, s->efer);
	uint8_t code[16];
	uint64_t gpa;
	if (vcpu_gva_to_gpa(vcpu, s->rip, &gpa) != 0) {
		printk("kev:   rip 0x%lx is not mapped by the guest's page table\n", s->rip);
		return;
	}
	if (vcpu_read_gva(vcpu, s->rip, code, sizeof(code)) == 0) {
		char hex[3 * sizeof(code) + 1];
		for (size_t i = 0; i < sizeof(code); i++)
			snprintf(hex + 3 * i, 4, " %02x", code[i]);
		printk("kev:   bytes at rip:%s\n", hex);
	}
	printk("kev:   rip is at guest-physical 0x%lx, in page 0x%lx\n", gpa,
	       ALIGN_DOWN(gpa, PAGE_SIZE));
	if (vm->describe_page)
		vm->describe_page(vm->report_arg, ALIGN_DOWN(gpa, PAGE_SIZE));
}

void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...)
{
	struct vm *vm = vcpu->vm;
	char msg[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("kev: %s vcpu%d: %s (rip 0x%lx)\n", vm->name, vcpu->id, msg, vcpu->vmcb->save.rip);
	if (vcpu->vmcb->control.exit_int_info & SVM_EXITINTINFO_VALID)
		vcpu_report_crash(vcpu); /* it happened while delivering an exception */
	/* Keep the first error only: later ones are usually its consequences. */
	if (!__atomic_test_and_set(&vm->error_taken, __ATOMIC_SEQ_CST))
		snprintf(vm->error, sizeof(vm->error), "vcpu%d: %s", vcpu->id, msg);
	vcpu_end(vcpu, VCPU_ERROR, 0);
}

const char *vm_verdict_string(struct vm *vm, char *buf, size_t len)
{
	if (vm->error[0]) {
		snprintf(buf, len, "error: %s", vm->error);
		return buf;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].verdict == VCPU_TRIPLE_FAULT) {
			snprintf(buf, len, "triple fault on vcpu%d: %s", i, vm->vcpus[i].crash);
			return buf;
		}
	}
	snprintf(buf, len, "exited %lu", vm->vcpus[0].exit_code);
	return buf;
}

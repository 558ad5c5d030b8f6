/*
 * exit.c: what happens at each #VMEXIT, one handler per exit code.
 *
 * A handler returns true to enter the guest again, false when the vCPU is
 * done (it then set its verdict with vcpu_end or vcpu_fail). SVM under QEMU
 * has no next-RIP, so a handler that emulates an instruction advances RIP by
 * that instruction's length itself.
 */
#include "exit.h"
#include "insn.h"
#include "mm.h"
#include "printk.h"
#include "vm.h"
#include "x86.h"

#define COM1		0x3F8
#define KEV_MSR_SCRATCH 0x40000100 /* a read/write MSR for the tests */
#define MAX_PRINT	4096

static void skip_insn(struct vcpu *vcpu, int len)
{
	vcpu->vmcb->save.rip += len;
}

/* ---- VMMCALL ---- */

/*
 * HC_PRINT: len bytes at guest-virtual gva, copied in chunks on this thread's
 * stack (no buffer shared between vCPUs or VMs). 0, or -1 with the vCPU failed.
 */
static int hc_print(struct vcpu *vcpu, uint64_t gva, uint64_t len)
{
	if (len > MAX_PRINT) {
		vcpu_fail(vcpu, "HC_PRINT of %lu bytes (at most %d)", len, MAX_PRINT);
		return -1;
	}
	char chunk[256];
	for (uint64_t done = 0; done < len; done += sizeof(chunk)) {
		size_t n = MIN(sizeof(chunk), len - done);
		int err = vcpu_read_gva(vcpu, gva + done, chunk, n);
		if (err) {
			vcpu_fail(vcpu, "HC_PRINT buffer 0x%lx+%lu: %s(0x%lx) failed: %s", gva, len,
				  vcpu_translation_name(vcpu), gva + done, kev_npt->strerror(err));
			return -1;
		}
		vcpu_console_write(vcpu, chunk, n);
	}
	return 0;
}

static bool handle_vmmcall(struct vcpu *vcpu)
{
	uint64_t *r = vcpu->regs;
	switch (r[VCPU_RAX]) {
	case HC_EXIT:
		vcpu_end(vcpu, VCPU_EXITED, r[VCPU_RDI]);
		return false;
	case HC_PRINT:
		if (hc_print(vcpu, r[VCPU_RDI], r[VCPU_RSI]) != 0)
			return false;
		r[VCPU_RAX] = 0;
		skip_insn(vcpu, 3);
		return true;
	default:
		vcpu_fail(vcpu, "unknown hypercall %lu", r[VCPU_RAX]);
		return false;
	}
}

/* ---- CPUID: the host's answers, with this vCPU's id and without SVM ---- */

static bool handle_cpuid(struct vcpu *vcpu)
{
	uint64_t *r = vcpu->regs;
	uint32_t a, b, c, d;
	uint32_t leaf = r[VCPU_RAX], sub = r[VCPU_RCX];
	cpuid(leaf, sub, &a, &b, &c, &d);
	if (leaf == 1) {
		b = (b & 0x00FFFFFF) | ((uint32_t)vcpu->id << 24); /* initial APIC id */
		c |= 1U << 31; /* "running under a hypervisor" */
	} else if (leaf == 0x80000001) {
		c &= ~(1U << 2); /* no nested SVM */
	} else if (leaf == 0x40000000) {
		a = 0x40000000;
		memcpy(&b, "KeVK", 4), memcpy(&c, "eVKe", 4), memcpy(&d, "VKeV", 4);
	}
	r[VCPU_RAX] = a, r[VCPU_RBX] = b, r[VCPU_RCX] = c, r[VCPU_RDX] = d;
	skip_insn(vcpu, 2);
	return true;
}

/* ---- HLT: nothing ever interrupts a guest here, so only a spin-wait may halt ---- */

static bool handle_hlt(struct vcpu *vcpu)
{
	if (!(vcpu->vmcb->save.rflags & RFLAGS_IF)) {
		vcpu_fail(vcpu, "hlt with interrupts disabled: nothing can ever wake this vCPU");
		return false;
	}
	skip_insn(vcpu, 1);
	thread_yield();
	return true;
}

/*
 * A triple fault: the guest could not deliver an exception. exit_int_info
 * still holds the first one (QEMU keeps it through the #DF), which is the bug.
 */
static bool handle_shutdown(struct vcpu *vcpu)
{
	char event[64], sym[48];
	uint64_t rip = vcpu->vmcb->save.rip;
	svm_describe_event(vcpu->vmcb->control.exit_int_info, event, sizeof(event));
	if (vcpu->vm->symbolize &&
	    vcpu->vm->symbolize(vcpu->vm->report_arg, rip, sym, sizeof(sym)) == 0)
		snprintf(vcpu->crash, sizeof(vcpu->crash), "%s at %s (rip 0x%lx)", event, sym, rip);
	else
		snprintf(vcpu->crash, sizeof(vcpu->crash), "%s at rip 0x%lx", event, rip);
	printk("kev: %s vcpu%d: triple fault (shutdown) while delivering %s\n", vcpu->vm->name,
	       vcpu->id, vcpu->crash);
	vcpu_report_crash(vcpu);
	vcpu_end(vcpu, VCPU_TRIPLE_FAULT, 0);
	return false;
}

/* ---- MSRs that are not passed through (see permission_maps.c) ---- */

static bool handle_msr(struct vcpu *vcpu)
{
	uint64_t *r = vcpu->regs;
	bool write = vcpu->exit.info1 == 1;
	uint32_t msr = r[VCPU_RCX];
	uint64_t value = (r[VCPU_RDX] << 32) | (uint32_t)r[VCPU_RAX];

	switch (msr) {
	case KEV_MSR_SCRATCH:
		if (write)
			vcpu->test_msr = value;
		value = vcpu->test_msr;
		break;
	case MSR_APIC_BASE: /* enabled, at the usual address, the BSP flag on vCPU 0 */
		value = LAPIC_DEFAULT_PA | APIC_BASE_ENABLE | (vcpu->id == 0 ? APIC_BASE_BSP : 0);
		break;
	case MSR_PAT:
		if (write)
			vcpu->vmcb->save.g_pat = value;
		value = vcpu->vmcb->save.g_pat;
		break;
	case MSR_TSC:
		value = rdtsc();
		break;
	default:
		vcpu_fail(vcpu, "unhandled %s of MSR 0x%x", write ? "wrmsr" : "rdmsr", msr);
		return false;
	}
	if (!write) {
		r[VCPU_RAX] = (uint32_t)value;
		r[VCPU_RDX] = value >> 32;
	}
	skip_insn(vcpu, 2);
	return true;
}

/* ---- port I/O ---- */

static int com1_io(struct vcpu *vcpu, uint16_t port, bool in, int size, uint32_t *value)
{
	(void)size;
	if (in)
		*value = port == COM1 + 5 ? 0x60 : 0; /* line status: transmitter empty */
	else if (port == COM1)
		vcpu_console_putc(vcpu, (char)*value);
	return 0; /* the other registers (baud, FIFO, ...) are accepted and ignored */
}

static int port_io(struct vcpu *vcpu, uint16_t port, bool in, int size, uint32_t *value)
{
	if (port >= COM1 && port <= COM1 + 7)
		return com1_io(vcpu, port, in, size, value);
	struct vm *vm = vcpu->vm;
	for (int i = 0; i < vm->nports; i++)
		if (port >= vm->ports[i].first && port <= vm->ports[i].last)
			return vm->ports[i].io(vcpu, port, in, size, value, vm->ports[i].arg);
	vcpu_fail(vcpu, "unhandled port I/O: %s%s 0x%x", in ? "in" : "out",
		  size == 1   ? "b"
		  : size == 2 ? "w"
			      : "l",
		  port);
	return -1;
}

/* One element of ins/outs: memory at RSI (outs) or RDI (ins), then step the pointer. */
static int string_io_once(struct vcpu *vcpu, uint16_t port, bool in, int size, uint64_t amask)
{
	uint64_t *r = vcpu->regs;
	int step = (vcpu->vmcb->save.rflags & RFLAGS_DF) ? -size : size;
	uint32_t value = 0;
	int err;
	if (in) {
		if (port_io(vcpu, port, true, size, &value) != 0)
			return -1;
		if ((err = vcpu_write_gva(vcpu, r[VCPU_RDI] & amask, &value, size)) != 0) {
			vcpu_fail(vcpu, "ins to 0x%lx: %s failed: %s", r[VCPU_RDI],
				  vcpu_translation_name(vcpu), kev_npt->strerror(err));
			return -1;
		}
		r[VCPU_RDI] = (r[VCPU_RDI] + step) & amask;
		return 0;
	}
	if ((err = vcpu_read_gva(vcpu, r[VCPU_RSI] & amask, &value, size)) != 0) {
		vcpu_fail(vcpu, "outs from 0x%lx: %s failed: %s", r[VCPU_RSI],
			  vcpu_translation_name(vcpu), kev_npt->strerror(err));
		return -1;
	}
	r[VCPU_RSI] = (r[VCPU_RSI] + step) & amask;
	return port_io(vcpu, port, false, size, &value);
}

static bool handle_ioio(struct vcpu *vcpu)
{
	uint64_t info = vcpu->exit.info1;
	uint16_t port = info >> SVM_IOIO_PORT_SHIFT;
	bool in = info & SVM_IOIO_TYPE_IN;
	int size = (info >> SVM_IOIO_SIZE_SHIFT) & 7; /* one-hot: 1, 2 or 4 */
	int abits = ((info >> SVM_IOIO_ASIZE_SHIFT) & 7) == 1	? 16
		    : ((info >> SVM_IOIO_ASIZE_SHIFT) & 7) == 2 ? 32
								: 64;
	uint64_t amask = abits == 64 ? ~0UL : (1UL << abits) - 1;
	uint64_t *r = vcpu->regs;

	if (info & SVM_IOIO_STR) {
		uint64_t count = (info & SVM_IOIO_REP) ? (r[VCPU_RCX] & amask) : 1;
		for (; count > 0; count--) {
			if (string_io_once(vcpu, port, in, size, amask) != 0)
				return false;
			if (info & SVM_IOIO_REP)
				r[VCPU_RCX] = (r[VCPU_RCX] - 1) & amask;
		}
	} else {
		uint32_t value = r[VCPU_RAX];
		if (port_io(vcpu, port, in, size, &value) != 0)
			return false;
		if (in) {
			uint64_t mask = size == 4 ? 0xFFFFFFFFUL : (1UL << (8 * size)) - 1;
			/* in eax zero-extends into rax; in al/ax keep the other bits */
			r[VCPU_RAX] = size == 4 ? value : (r[VCPU_RAX] & ~mask) | (value & mask);
		}
	}
	vcpu->vmcb->save.rip = vcpu->exit.info2; /* EXITINFO2 holds the next RIP: reliable */
	return true;
}

/* ---- nested page faults: the pager, then MMIO, then an error ---- */

static bool emulate_mmio(struct vcpu *vcpu, struct mmio_region *m, uint64_t gpa)
{
	uint8_t code[INSN_MAX_LEN];
	/*
	 * Fetch the instruction's page piece, then the rest from the next page if
	 * that page is mapped: an instruction may end right before an unmapped one.
	 */
	uint64_t rip = vcpu->exit.rip;
	size_t avail = MIN(sizeof(code), PAGE_SIZE - rip % PAGE_SIZE);
	int err = vcpu_read_gva(vcpu, rip, code, avail);
	if (err) {
		vcpu_fail(vcpu,
			  "MMIO at 0x%lx: cannot fetch the instruction at rip 0x%lx: %s failed: %s",
			  gpa, rip, vcpu_translation_name(vcpu), kev_npt->strerror(err));
		return false;
	}
	if (avail < sizeof(code) &&
	    vcpu_read_gva(vcpu, rip + avail, code + avail, sizeof(code) - avail) == 0)
		avail = sizeof(code);
	struct insn_mmio insn;
	const char *why = NULL;
	if (insn_decode_mmio(code, avail, &insn, &why) != 0) {
		vcpu_fail(vcpu,
			  "MMIO at 0x%lx: cannot emulate the instruction at rip 0x%lx (%s; read "
			  "through %s)",
			  gpa, vcpu->exit.rip, why ? why : "?", vcpu_translation_name(vcpu));
		return false;
	}
	uint64_t value = 0;
	if (insn.is_write)
		value = insn_store_value(&insn, vcpu->regs);
	if (m->access(vcpu, gpa, insn.is_write, insn.size, &value, m->arg) != 0) {
		if (vcpu->verdict == VCPU_RUNNING)
			vcpu_fail(vcpu, "MMIO device at 0x%lx refused a %d-byte %s", gpa, insn.size,
				  insn.is_write ? "write" : "read");
		return false;
	}
	if (!insn.is_write)
		insn_load_result(&insn, vcpu->regs, value);
	skip_insn(vcpu, insn.len);
	return true;
}

/*
 * #NPF exits in a row on one page that the pager "handled". kev calls the pager with
 * npt_lock held, so a handler that returns 1 has mapped the page (or found it mapped):
 * the retry cannot fault there again. A thousand takes ~0.1 s under TCG.
 */
#define NPF_LIVELOCK 1000

/* True (and the vCPU failed) if the pager keeps saying it mapped a page it never maps. */
static bool npf_livelock(struct vcpu *vcpu, uint64_t page)
{
	if (page != vcpu->npf_last_gpa || vcpu->npf_repeats == 0) {
		vcpu->npf_last_gpa = page;
		vcpu->npf_repeats = 1;
		return false;
	}
	if (++vcpu->npf_repeats < NPF_LIVELOCK)
		return false;
	vcpu_fail(vcpu,
		  "guest-physical 0x%lx faulted %u times in a row; %s returned 1 but never "
		  "mapped it",
		  page, vcpu->npf_repeats, vm_fault_handler_name(vcpu->vm));
	return true;
}

static bool handle_npf(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	uint64_t gpa = vcpu->exit.info2, err = vcpu->exit.info1;
	vcpu->npf_exits++;

	if (err & NPF_PRESENT) {
		vcpu_fail(vcpu, "%s of guest-physical 0x%lx violates its nested page rights",
			  err & NPF_FETCH   ? "fetch"
			  : err & NPF_WRITE ? "write"
					    : "read",
			  gpa);
		return false;
	}
	spin_lock(&vm->npt_lock);
	int r = vm_fault_in(vm, gpa);
	spin_unlock(&vm->npt_lock);
	if (r == 1)
		return !npf_livelock(vcpu, ALIGN_DOWN(gpa, PAGE_SIZE));
	if (r < 0) {
		vcpu_fail(vcpu, "the pager failed on guest-physical 0x%lx: %s", gpa,
			  kev_npt->strerror(r));
		return false;
	}
	for (int i = 0; i < vm->nmmio; i++) {
		struct mmio_region *m = &vm->mmio[i];
		if (gpa >= m->gpa && gpa < m->gpa + m->size)
			return emulate_mmio(vcpu, m, gpa);
	}
	vcpu_fail(vcpu, "guest-physical 0x%lx is outside the guest's memory (%s, %lu MiB of RAM)",
		  gpa,
		  err & NPF_FETCH   ? "fetch"
		  : err & NPF_WRITE ? "write"
				    : "read",
		  vm->mem_size >> 20);
	return false;
}

/* ---- the rest ---- */

static bool handle_intr(struct vcpu *vcpu)
{
	/* The host already took its interrupt when vcpu_enter re-enabled them. */
	vcpu->intr_exits++;
	return true;
}

static bool handle_svm_insn(struct vcpu *vcpu)
{
	vcpu_fail(vcpu, "the guest used an SVM instruction (exit 0x%lx): nested SVM is not offered",
		  vcpu->exit.code);
	return false;
}

typedef bool (*exit_handler)(struct vcpu *vcpu);

static const exit_handler exit_handlers[] = {
    [SVM_EXIT_INTR] = handle_intr,	   [SVM_EXIT_NMI] = handle_intr,
    [SVM_EXIT_CPUID] = handle_cpuid,	   [SVM_EXIT_HLT] = handle_hlt,
    [SVM_EXIT_IOIO] = handle_ioio,	   [SVM_EXIT_MSR] = handle_msr,
    [SVM_EXIT_SHUTDOWN] = handle_shutdown, [SVM_EXIT_VMRUN] = handle_svm_insn,
    [SVM_EXIT_VMMCALL] = handle_vmmcall,   [SVM_EXIT_VMLOAD] = handle_svm_insn,
    [SVM_EXIT_VMSAVE] = handle_svm_insn,   [SVM_EXIT_STGI] = handle_svm_insn,
    [SVM_EXIT_CLGI] = handle_svm_insn,	   [SVM_EXIT_SKINIT] = handle_svm_insn,
    [SVM_EXIT_NPF] = handle_npf,
};

bool handle_exit(struct vcpu *vcpu)
{
	uint64_t code = vcpu->exit.code;
	if ((uint32_t)code == SVM_EXIT_INVALID) {
		vcpu_fail(vcpu, "VMRUN refused the guest state (VMEXIT_INVALID)");
		return false;
	}
	if (code < ARRAY_SIZE(exit_handlers) && exit_handlers[code])
		return exit_handlers[code](vcpu);
	vcpu_fail(vcpu, "unhandled exit code 0x%lx (info1 0x%lx, info2 0x%lx)", code,
		  vcpu->exit.info1, vcpu->exit.info2);
	return false;
}

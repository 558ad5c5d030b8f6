/*
 * svm.c: turning AMD SVM on, one CPU at a time.
 *
 * SVM needs, per CPU: EFER.SVME set, and a 4 KiB host-save area whose address
 * goes into the VM_HSAVE_PA MSR (VMRUN stores part of the host's state there).
 * We also keep a second page per CPU for the host state that VMRUN does not
 * save (FS, GS, TR, LDTR, syscall MSRs): vcpu_vmrun() VMSAVEs it there before
 * entering the guest and VMLOADs it back after.
 */
#include "svm.h"
#include "cpu.h"
#include "fw_cfg.h"
#include "mm.h"
#include "permission_maps.h"
#include "printk.h"
#include "smp.h"
#include "thread.h"
#include "vcpu.h"
#include "watchdog.h"
#include "x86.h"

/* Per host CPU, indexed by cpu id: the two pages above (NULL until svm_enable_cpu). */
static struct svm_cpu {
	void *host_save; /* VM_HSAVE_PA: VMRUN's own host-save area */
	void *host_vmcb; /* host state VMSAVE keeps across VMRUN */
} svm_cpus[MAX_CPUS];

#define CPUID_SVM_ECX (1U << 2) /* leaf 0x80000001 */
#define CPUID_NPT_EDX (1U << 0) /* leaf 0x8000000A */

static const char *svm_missing(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a < 0x8000000A)
		return "SVM (AMD-V)";
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	if (!(c & CPUID_SVM_ECX))
		return "SVM (AMD-V)";
	cpuid(0x8000000A, 0, &a, &b, &c, &d);
	if (!(d & CPUID_NPT_EDX))
		return "nested paging (NPT)";
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS)
		return "SVM (disabled by firmware in VM_CR)";
	return NULL;
}

bool svm_available(void)
{
	return svm_missing() == NULL;
}

void kev_require_svm(void)
{
	const char *missing = svm_missing();
	if (!missing)
		return;
	printk("KEV-UNSUPPORTED: this CPU has no %s.\n", missing);
	printk("KeV needs AMD SVM with nested paging. Under QEMU's software emulation run\n"
	       "  qemu-system-x86_64 -cpu qemu64,+svm,+npt ...   (as `make run` does)\n");
	qemu_exit(QEMU_EXIT_UNSUPPORTED);
}

int svm_enable_cpu(void)
{
	struct svm_cpu *c = &svm_cpus[mycpu()->id];
	if (c->host_save)
		return 0;
	if (!svm_available())
		return -1;
	void *hsave = page_alloc();
	void *host_vmcb = page_alloc();
	if (!hsave || !host_vmcb)
		panic("svm_enable_cpu: out of memory");
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, V2P(hsave));
	/* The host's FS/GS/TR/... never change after boot: save them once. */
	asm volatile("vmsave %%rax" ::"a"(V2P(host_vmcb)) : "memory");
	c->host_save = hsave;
	c->host_vmcb = host_vmcb;
	return 0;
}

uint64_t svm_host_vmcb_pa(void)
{
	return V2P(svm_cpus[mycpu()->id].host_vmcb);
}

/* Per-CPU SVM setup must run on that CPU: one short pinned thread each. */
static void svm_enable_thread(void *arg)
{
	(void)arg;
	svm_enable_cpu();
}

/*
 * Under QEMU's record/replay (the harness says so in opt/keos/record), a host
 * interrupt must not end a guest's run: QEMU 7.2 records the INTR #VMEXIT it
 * causes as an exception, not as the interrupt, and its replay never delivers
 * the interrupt, so the replay runs on and loses its place in the recording.
 */
bool kev_guest_irqs_off;

void kev_init(void)
{
	char flag[4];
	kev_guest_irqs_off = fw_cfg_read_file("opt/keos/record", flag, sizeof(flag)) >= 0;
	if (!svm_available()) {
		printk("kev: no SVM/NPT on this CPU: guests cannot run (keos tests still can)\n");
		return;
	}
	struct thread *t[MAX_CPUS];
	for (int i = 0; i < ncpu; i++)
		t[i] = thread_create("svm-init", svm_enable_thread, NULL, i);
	for (int i = 0; i < ncpu; i++)
		thread_join(t[i]);
	permission_maps_init();
	watchdog_set_guest_describer(vcpu_describe);
	printk("kev: SVM with nested paging on %d CPUs%s\n", ncpu,
	       kev_guest_irqs_off ? " (recorded: no host interrupt ends a guest's run)" : "");
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",  "#CP",
};

void svm_describe_event(uint64_t info, char *buf, size_t len)
{
	static const char *const types[8] = {"interrupt", "?", "NMI", "exception", "software int"};
	unsigned vector = info & SVM_EXITINTINFO_VEC_MASK;
	unsigned type = (info >> SVM_EXITINTINFO_TYPE_SHIFT) & 7;
	if (!(info & SVM_EXITINTINFO_VALID)) {
		snprintf(buf, len, "no event");
		return;
	}
	char name[16] = "event";
	if (type == SVM_EXITINTINFO_TYPE_EXEPT && vector < 32 && exception_names[vector])
		snprintf(name, sizeof(name), "%s", exception_names[vector]);
	else if (type == SVM_EXITINTINFO_TYPE_SOFT)
		snprintf(name, sizeof(name), "int 0x%x", vector);
	int n =
	    snprintf(buf, len, "%s (vector %u, %s", name, vector, types[type] ? types[type] : "?");
	if (n >= 0 && (size_t)n < len && (info & SVM_EXITINTINFO_VALID_ERR))
		n += snprintf(buf + n, len - n, ", error code 0x%lx", info >> 32);
	if (n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n, ")");
}

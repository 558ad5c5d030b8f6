/*
 * smp.c: bringing the other CPUs online.
 *
 * QEMU's fw_cfg tells how many CPUs the machine has. The boot CPU copies the
 * trampoline (ap_boot.S) to 0x8000, gives each AP a stack, and broadcasts
 * INIT-SIPI-SIPI; each AP sets up its own GDT/TSS/IDT, LAPIC and timer, and
 * becomes the idle thread of its CPU.
 */
#include "smp.h"
#include "cpu.h"
#include "fw_cfg.h"
#include "lapic.h"
#include "mm.h"
#include "printk.h"
#include "thread.h"
#include "x86.h"

#define TRAMP_PA       0x8000
#define AP_STACK_PAGES 4

int ncpu = 1;
volatile uint32_t ap_next_ticket = 1; /* taken by the trampoline with lock xadd */
uint64_t ap_stacks[MAX_CPUS];
static volatile int cpus_online = 1;
static volatile bool identity_dropped;
extern char ap_tramp_start[], ap_tramp_end[];
extern uint64_t boot_pml4[];

__noreturn void ap_main(int id)
{
	cpu_init(id);
	lapic_init();
	thread_init_cpu();
	__atomic_add_fetch(&cpus_online, 1, __ATOMIC_SEQ_CST);
	/* Wait until the boot CPU removed the identity map, then drop stale TLB entries. */
	while (!identity_dropped)
		pause();
	write_cr3(read_cr3());
	thread_idle_loop();
}

void smp_boot(void)
{
	int want = fw_cfg_cpu_count();
	if (want > MAX_CPUS) {
		printk("smp: %d CPUs but MAX_CPUS is %d; using %d\n", want, MAX_CPUS, MAX_CPUS);
		want = MAX_CPUS;
	}
	if (want > 1) {
		memcpy(P2V(TRAMP_PA), ap_tramp_start, ap_tramp_end - ap_tramp_start);
		for (int i = 1; i < want; i++) {
			uint8_t *stack = pages_alloc(AP_STACK_PAGES);
			if (!stack)
				panic("smp_boot: no memory for AP stacks");
			ap_stacks[i] = (uint64_t)(stack + AP_STACK_PAGES * PAGE_SIZE);
		}
		lapic_send_init_sipi(TRAMP_PA >> 12);
		/* Wait up to ~1 s for everyone. */
		uint64_t deadline = uptime_us() + 1000000;
		while (cpus_online < want && uptime_us() < deadline)
			pause();
	}
	ncpu = cpus_online;
	if (ncpu != want)
		panic("smp_boot: only %d of %d CPUs came online", ncpu, want);

	/* From now on, address 0 is unmapped: a NULL dereference faults. */
	boot_pml4[0] = 0;
	write_cr3(read_cr3());
	identity_dropped = true;
}

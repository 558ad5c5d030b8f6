/*
 * main.c: kmain, the boot CPU's path from boot.S to the test runner.
 */
#include "blk.h"
#include "cpu.h"
#include "fs.h"
#include "fw_cfg.h"
#include "lapic.h"
#include "layers.h"
#include "mm.h"
#include "multiboot.h"
#include "printk.h"
#include "serial.h"
#include "smp.h"
#include "test.h"
#include "thread.h"
#include "trap.h"
#include "watchdog.h"
#include "x86.h"

static char selection[256];
static struct boot_info boot_info;

/* magic and info_pa: what the boot loader left in EAX and EBX (multiboot.h). */
void kmain(uint32_t magic, uint32_t info_pa)
{
	serial_init();
	trap_init();
	cpu_init(0); /* GS base: printk's lock needs mycpu() */
	test_init(); /* the verdict secret, before the layers above or any test code run */
	printk("\nKeOS booting\n");
	multiboot_read(magic, info_pa, &boot_info);
	printk("boot: %s%s%s\n", boot_info.loader, boot_info.cmdline[0] ? ", command line " : "",
	       boot_info.cmdline);
	mm_init(&boot_info);
	lapic_calibrate();
	lapic_init();
	thread_init_cpu();
	smp_boot();
	printk("smp: %d CPUs online\n", ncpu);

	if (blk_init() == 0 && fs_init() != 0)
		printk("fs: the disk has no valid file system\n");

	sti();
	layers_init();
	int len = fw_cfg_read_file("opt/keos/test", selection, sizeof(selection));
	if (len < 0)
		selection[0] = '\0';
	else if (len >= (int)sizeof(selection))
		panic("the test selection is %d bytes; at most %zu fit", len,
		      sizeof(selection) - 1);
	watchdog_init();
	printk("KEOS-READY cpus=%d free_pages=%lu test=%s\n", ncpu, pages_free_count(),
	       selection[0] ? selection : "(default)");
	run_tests(selection);
}

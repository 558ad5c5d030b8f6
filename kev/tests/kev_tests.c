/*
 * kev_tests.c: kev's tests — each runs a small raw-code guest (guest_code.S)
 * in a fresh VM, checks its verdict and what it printed, and checks that
 * destroying the VM gave back every page.
 */
#include "elf.h"
#include "mm.h"
#include "rawguest.h"
#include "smp.h"
#include "test.h"
#include "thread.h"
#include "vm.h"

#define DECLARE_GUEST(n) extern const uint8_t guest_##n[], guest_##n##_end[]
DECLARE_GUEST(exit42);
DECLARE_GUEST(hc_print);
DECLARE_GUEST(print_n);
DECLARE_GUEST(out_dx);
DECLARE_GUEST(out_imm8);
DECLARE_GUEST(rep_outsb);
DECLARE_GUEST(port_in);
DECLARE_GUEST(cpuid);
DECLARE_GUEST(msr);
DECLARE_GUEST(multi);
DECLARE_GUEST(triple);
DECLARE_GUEST(outside);
DECLARE_GUEST(bad_port);
DECLARE_GUEST(cli_hlt);
DECLARE_GUEST(io_loop);
DECLARE_GUEST(mmio);
DECLARE_GUEST(boot32);
DECLARE_GUEST(spin);

/* Test devices: port 0xE9 prints like COM1 and answers reads; 0xEA/0xEC answer reads. */
static int test_ports(struct vcpu *vcpu, uint16_t port, bool in, int size, uint32_t *value,
		      void *arg)
{
	(void)vcpu, (void)arg, (void)size;
	if (!in)
		return 0;
	*value = port == 0xE9 ? 0x11 : port == 0xEA ? 0x2200 : 0x33000000;
	return 0;
}

/* A memory-like MMIO device: three 8-byte registers at 0xcafe0000. */
static uint64_t test_regs[3];
static int test_mmio(struct vcpu *vcpu, uint64_t gpa, bool is_write, int size, uint64_t *value,
		     void *arg)
{
	(void)vcpu, (void)arg;
	uint64_t *reg = &test_regs[(gpa - 0xcafe0000) / 8];
	uint64_t mask = size == 8 ? ~0UL : (1UL << (8 * size)) - 1;
	if (is_write)
		*reg = *value & mask;
	else
		*value = *reg & mask;
	return 0;
}

/* The test devices above, for every raw guest of this file. */
static void add_test_devices(struct vm *vm, void *arg)
{
	(void)arg;
	if (vm_add_ports(vm, 0xE9, 0xEC, test_ports, NULL) != 0 ||
	    vm_add_mmio(vm, 0xcafe0000, 0x18, test_mmio, NULL) != 0)
		test_fail(__FILE__, __LINE__, "cannot add the test devices");
}

static void run_guest(const uint8_t *code, const uint8_t *end, int nvcpus, bool long_mode,
		      struct rawguest_result *out)
{
	CHECK_EQ(rawguest_run(code, end, nvcpus, long_mode, add_test_devices, NULL, out), 0);
	/* Destroying the VM gives back every page it took. */
	CHECK_EQ(out->pages_leaked, 0);
}

#define RUN(name, n, out) run_guest(guest_##name, guest_##name##_end, n, true, out)

static struct rawguest_result r; /* big: keep it off the 16 KiB thread stack */

static void expect_exit(uint64_t code)
{
	if (r.verdicts[0] != VCPU_EXITED || r.codes[0] != code)
		test_fail(__FILE__, __LINE__, "expected exit 0x%lx, got: %s", code, r.verdict);
}

KTEST(kev, hypercall_exit)
{
	RUN(exit42, 1, &r);
	expect_exit(42);
	test_metric("guest_us", r.us);
	test_metric("exits", r.exits);
}

KTEST(kev, hypercall_print)
{
	RUN(hc_print, 1, &r);
	expect_exit(0);
	CHECK(strstr(r.console, "Hello from a hypercall!\n"));
}

/*
 * Two VMs at once, each printing its own letter with HC_PRINT from its vCPU 0,
 * on two host CPUs: neither console may show the other's letter. (A buffer
 * shared by vCPU id would mix them: the console prints slowly, ~0.1 ms a byte,
 * so the other VM's hypercall overwrites it while it is being printed.)
 */
#define TWO_VMS_TEXT_GPA 0x20000
#define TWO_VMS_TEXT_LEN 1500
#define TWO_VMS_PRINTS	 10

struct letter_vm {
	char letter;
	int cpu;
	int run;
	struct rawguest_result r;
};

static void put_letters(struct vm *vm, void *arg)
{
	struct letter_vm *l = arg;
	char text[TWO_VMS_TEXT_LEN];
	memset(text, l->letter, sizeof(text));
	text[sizeof(text) - 1] = '\n';
	if (vm_write_gpa(vm, TWO_VMS_TEXT_GPA, text, sizeof(text)) != 0)
		test_fail(__FILE__, __LINE__, "cannot write VM %c's text", l->letter);
	vm->first_cpu = l->cpu;
	vm->vcpus[0].regs[VCPU_RDI] = TWO_VMS_TEXT_GPA;
	vm->vcpus[0].regs[VCPU_RSI] = sizeof(text);
	vm->vcpus[0].regs[VCPU_RDX] = TWO_VMS_PRINTS;
}

static void run_letter_vm(void *arg)
{
	struct letter_vm *l = arg;
	l->run = rawguest_run(guest_print_n, guest_print_n_end, 1, true, put_letters, l, &l->r);
}

static void expect_only_letter(struct letter_vm *l)
{
	if (l->run != 0 || l->r.verdicts[0] != VCPU_EXITED || l->r.codes[0] != 0)
		test_fail(__FILE__, __LINE__, "VM %c: %s", l->letter, l->r.verdict);
	for (const char *c = l->r.console; *c; c++)
		if (*c != l->letter && *c != '\n')
			test_fail(__FILE__, __LINE__, "VM %c's console shows '%c' at byte %ld",
				  l->letter, *c, c - l->r.console);
	if (l->r.console[0] != l->letter)
		test_fail(__FILE__, __LINE__, "VM %c printed nothing", l->letter);
}

KTEST(kev, two_vms_print)
{
	if (ncpu < 2)
		test_skip("needs two CPUs, has %d", ncpu);
	static struct letter_vm a = {.letter = 'A', .cpu = 0}, b = {.letter = 'B', .cpu = 1};
	struct thread *ta = thread_create("vm-A", run_letter_vm, &a, 0);
	struct thread *tb = thread_create("vm-B", run_letter_vm, &b, 1);
	if (!ta || !tb)
		test_fail(__FILE__, __LINE__, "cannot create the two VM threads");
	thread_join(ta);
	thread_join(tb);
	expect_only_letter(&a);
	expect_only_letter(&b);
}

KTEST(kev, pio_out_dx)
{
	RUN(out_dx, 1, &r);
	expect_exit(0);
	CHECK(strstr(r.console, "Hello via out dx!\n"));
}

KTEST(kev, pio_out_imm8)
{
	RUN(out_imm8, 1, &r);
	expect_exit(0);
	/* port 0xE9 is the test device, not the console: nothing printed, one exit per byte */
	CHECK(r.exits >= 20);
}

KTEST(kev, pio_rep_outsb)
{
	RUN(rep_outsb, 1, &r);
	expect_exit(0);
	CHECK(strstr(r.console, "Hello via rep outsb!\n"));
	/* The whole string in one IOIO exit. The host's 1 ms timer may interrupt the guest
	 * anywhere (an INTR exit each time, more of them on a loaded machine): not counted. */
	test_metric("exits", r.exits);
	test_metric("intr_exits", r.intr_exits);
	CHECK(r.exits - r.intr_exits <= 3);
}

KTEST(kev, pio_in)
{
	RUN(port_in, 1, &r);
	expect_exit(0x11 + 0x2200 + 0x33000000);
}

KTEST(kev, cpuid)
{
	RUN(cpuid, 1, &r);
	expect_exit((0 << 16) | 1);
}

KTEST(kev, msr)
{
	RUN(msr, 1, &r);
	expect_exit(0x600D);
}

KTEST(kev, mmio_decode)
{
	RUN(mmio, 1, &r);
	expect_exit(0x600D);
	CHECK_EQ(test_regs[0], 0x1122334455667788UL);
	CHECK_EQ(test_regs[1], 0xdeadbeef);
	CHECK_EQ(test_regs[2], 0x5a);
}

KTEST(kev, boot32_to_long_mode)
{
	run_guest(guest_boot32, guest_boot32_end, 1, false, &r);
	expect_exit(0x64);
}

KTEST(kev, multi_vcpu)
{
	int n = ncpu;
	RUN(multi, n, &r);
	for (int i = 0; i < n; i++) {
		if (r.verdicts[i] != VCPU_EXITED || r.codes[i] != 0x10 + (uint64_t)i)
			test_fail(__FILE__, __LINE__, "vcpu%d: verdict %d code 0x%lx", i,
				  r.verdicts[i], r.codes[i]);
	}
	test_metric("vcpus", n);
}

/* Each of these ends its VM with an error; the same test then runs a good guest. */
static void expect_error_then_recover(const char *want)
{
	if (!strstr(r.verdict, want))
		test_fail(__FILE__, __LINE__, "verdict \"%s\" does not mention \"%s\"", r.verdict,
			  want);
	RUN(exit42, 1, &r);
	expect_exit(42);
}

KTEST(kev, triple_fault)
{
	RUN(triple, 1, &r);
	CHECK_EQ(r.verdicts[0], VCPU_TRIPLE_FAULT);
	expect_error_then_recover("triple fault");
}

KTEST(kev, outside_memory)
{
	RUN(outside, 1, &r);
	expect_error_then_recover("0x20000000 is outside the guest's memory");
}

KTEST(kev, unhandled_port)
{
	RUN(bad_port, 1, &r);
	expect_error_then_recover("unhandled port I/O: outb 0x1234");
}

KTEST(kev, hlt_interrupts_off)
{
	RUN(cli_hlt, 1, &r);
	expect_error_then_recover("hlt with interrupts disabled");
}

KTEST(kev, exit_throughput)
{
	RUN(io_loop, 1, &r);
	expect_exit(20000);
	CHECK(r.exits >= 20000);
	test_metric("exits", r.exits);
	test_metric("guest_us", r.us);
	test_metric("exits_per_sec", r.exits * 1000000 / (r.us ? r.us : 1));
}

/* A guest that never exits on its own: the host's 1 ms timer still gets through. */
KTEST(kev, host_interrupts)
{
	RUN(spin, 1, &r);
	expect_exit(0);
	test_metric("guest_us", r.us);
	test_metric("intr_exits", r.intr_exits);
	CHECK(r.us > 2000);	  /* long enough for two ticks at least */
	CHECK(r.intr_exits >= 1); /* INTR intercept, then back into the guest */
}

/* Damaged guest images (tools/mkbadelf.c): elf.c refuses each with its reason, nothing leaked. */
KTEST(kev, elf_malformed)
{
	static const struct {
		const char *file, *reason;
	} bad[] = {
	    {"bad-magic.elf", "not an ELF file"},
	    {"bad-truncated.elf", "too short for an ELF header"},
	    {"bad-phoff.elf", "program headers are past the end of the file"},
	    {"bad-offset.elf", "past the end of the file"},
	    {"bad-filesz.elf", "filesz"},
	    {"bad-paddr.elf", "outside guest RAM"},
	    {"bad-machine.elf", "not an x86-64 executable"},
	};
	static struct elf_image img;
	char err[160];
	size_t before = pages_free_count();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		struct file *f = fs_open(bad[i].file);
		if (!f)
			test_fail(__FILE__, __LINE__, "%s is not on the disk", bad[i].file);
		/* 4 GiB of RAM: room for every good segment, none for bad-paddr's. */
		int r = elf_read_headers(f, 1UL << 32, &img, err, sizeof(err));
		fs_close(f);
		if (r == 0)
			test_fail(__FILE__, __LINE__, "%s was accepted", bad[i].file);
		if (!strstr(err, bad[i].reason))
			test_fail(__FILE__, __LINE__, "%s refused with \"%s\", expected \"%s\"",
				  bad[i].file, err, bad[i].reason);
		printk("kev: %s refused: %s\n", bad[i].file, err);
	}
	CHECK_EQ(pages_free_count(), before);
}

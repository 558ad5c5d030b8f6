/*
 * mmio_tests.c: the MMIO printer, driven by raw-code guests (mmio_guests.S).
 */
#include "mm.h"
#include "mmio.h"
#include "npt.h"
#include "rawguest.h"
#include "test.h"
#include "x86.h"

#define DECLARE_GUEST(n) extern const uint8_t mmio_guest_##n[], mmio_guest_##n##_end[]
DECLARE_GUEST(print);
DECLARE_GUEST(invalid_size);
DECLARE_GUEST(readback);
DECLARE_GUEST(outside);
DECLARE_GUEST(unreadable);
DECLARE_GUEST(physical);

static struct mmio_printer printer;
static struct rawguest_result r;

static void add_printer(struct vm *vm, void *arg)
{
	(void)arg;
	memset(&printer, 0, sizeof(printer));
	if (vm_add_mmio(vm, MMIO_PRINTER_BASE, MMIO_PRINTER_SIZE, mmio_printer_access, &printer))
		test_fail(__FILE__, __LINE__, "cannot add the printer");
}

static void run(const uint8_t *code, const uint8_t *end, uint64_t want_exit)
{
	CHECK_EQ(rawguest_run(code, end, 1, true, add_printer, NULL, &r), 0);
	if (r.verdicts[0] != VCPU_EXITED || r.codes[0] != want_exit)
		test_fail(__FILE__, __LINE__, "expected the guest to exit with 0x%lx, got: %s",
			  want_exit, r.verdict);
	CHECK_EQ(r.pages_leaked, 0);
}
#define RUN(n, want) run(mmio_guest_##n, mmio_guest_##n##_end, want)

/*
 * The printer, "GOOD\n" at guest-physical PHYS_TEXT and "BAD!\n" at VIRT_TEXT, and a
 * guest page table in which guest-virtual PHYS_TEXT is VIRT_TEXT: the first 2 MiB
 * (one large page in rawguest's identity map) become 4 KiB pages in a table at PT.
 */
#define PHYS_TEXT 0x30000UL
#define VIRT_TEXT 0x31000UL
#define PT	  0x20000UL
static void add_printer_and_remap(struct vm *vm, void *arg)
{
	add_printer(vm, arg);
	uint64_t pd0 = PT | PTE_P | PTE_W, pd = RAWGUEST_TABLES + 2 * PAGE_SIZE;
	int err =
	    vm_write_gpa(vm, PHYS_TEXT, "GOOD\n", 5) | vm_write_gpa(vm, VIRT_TEXT, "BAD!\n", 5);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t page = i << 12 == PHYS_TEXT ? VIRT_TEXT : i << 12;
		uint64_t pte = page | PTE_P | PTE_W;
		err |= vm_write_gpa(vm, PT + 8 * i, &pte, 8);
	}
	if (err | vm_write_gpa(vm, pd, &pd0, 8))
		test_fail(__FILE__, __LINE__, "cannot write the guest's page table");
}

KTEST(mmio, print)
{
	RUN(print, 0);
	/* Two doorbells, "Hello " and "mmio!\n": a byte too many or too few shows. */
	if (strcmp(r.console, "Hello mmio!\n") != 0)
		test_fail(__FILE__, __LINE__,
			  "the console shows \"%s\", not \"Hello mmio!\": a doorbell prints "
			  "exactly LEN bytes",
			  r.console);
	CHECK_EQ(printer.printed, 2);

	/* BUF is guest-physical: the guest's page table sends guest-virtual PHYS_TEXT elsewhere. */
	CHECK_EQ(rawguest_run(mmio_guest_physical, mmio_guest_physical_end, 1, true,
			      add_printer_and_remap, NULL, &r),
		 0);
	if (strcmp(r.console, "GOOD\n") != 0)
		test_fail(__FILE__, __LINE__,
			  "the console shows \"%s\", not \"GOOD\": BUF is guest-physical, not "
			  "read through the guest's page table (which maps it to \"BAD!\")",
			  r.console);
}

KTEST(mmio, invalid_size)
{
	RUN(invalid_size, 0x600D);
	if (strstr(r.console, "IGNORED") || !strstr(r.console, "Valid print after ignored ones\n"))
		test_fail(__FILE__, __LINE__,
			  "expected \"Valid print after ignored ones\" alone on the console, got "
			  "\"%s\": accesses not 8 bytes wide must be ignored (mmio_printer_access)",
			  r.console);
	CHECK_EQ(printer.printed, 1);
	/* The guest makes 8 accesses of a wrong size or at no register (mmio_guests.S). */
	CHECK_EQ(printer.ignored, 8);
}

KTEST(mmio, readback)
{
	RUN(readback, 0x600D);
	CHECK_EQ(printer.buf, 0x123456789abcUL);
	CHECK_EQ(printer.len, 77);
}

/* The printer, and guest RAM with a hole: its last page is taken away. */
static void add_printer_and_hole(struct vm *vm, void *arg)
{
	void *page;
	add_printer(vm, arg);
	if (npt_unmap(vm->npt, RAWGUEST_RAM - PAGE_SIZE, &page) != 0)
		test_fail(__FILE__, __LINE__, "cannot unmap the last page of guest RAM");
	page_free(page);
}

/* Reads of the hole by the host: kev asks the VM's fault handler for the page first. */
static int hole_reads;
static int count_hole_read(struct vm *vm, uint64_t gpa, void *arg)
{
	(void)vm, (void)gpa, (void)arg;
	hole_reads++;
	return 0; /* not mapped: the read fails */
}

static void add_printer_hole_and_counter(struct vm *vm, void *arg)
{
	add_printer_and_hole(vm, arg);
	hole_reads = 0;
	vm_set_fault_handler(vm, count_hole_read, NULL, "mmio_tests' hole counter");
}

KTEST(mmio, outside_buffer)
{
	CHECK_EQ(rawguest_run(mmio_guest_outside, mmio_guest_outside_end, 1, true,
			      add_printer_hole_and_counter, NULL, &r),
		 0);
	if (r.verdicts[0] != VCPU_EXITED || r.codes[0] != 0x600D)
		test_fail(__FILE__, __LINE__, "expected the guest to exit with 0x600D, got: %s",
			  r.verdict);
	if (r.console[0])
		test_fail(__FILE__, __LINE__, "a refused buffer printed \"%s\"", r.console);
	/* Five bad buffers, two LEN 0, one too long at the hole (mmio_guests.S). */
	CHECK_EQ(printer.refused, 8);
	CHECK_EQ(printer.printed, 0);
	if (hole_reads)
		test_fail(__FILE__, __LINE__,
			  "a refused doorbell read guest memory (%d reads of its buffer): mmio.h "
			  "says no memory is read",
			  hole_reads);
	CHECK_EQ(r.pages_leaked, 0);
}

/* A buffer inside guest RAM that cannot be read: not the guest's fault, so not refused;
 * the device returns an error and the VM ends with it. */
KTEST(mmio, unreadable_buffer)
{
	CHECK_EQ(rawguest_run(mmio_guest_unreadable, mmio_guest_unreadable_end, 1, true,
			      add_printer_and_hole, NULL, &r),
		 0);
	if (r.verdicts[0] != VCPU_ERROR)
		test_fail(__FILE__, __LINE__,
			  "the doorbell for an unreadable buffer inside guest RAM must end the VM "
			  "with an error (mmio_printer_access returns a negative value), got: %s",
			  r.verdict);
	if (r.console[0])
		test_fail(__FILE__, __LINE__, "an unreadable buffer printed \"%s\"", r.console);
	CHECK_EQ(printer.printed, 0);
	CHECK_EQ(printer.refused, 0);
	CHECK_EQ(r.pages_leaked, 0);
}

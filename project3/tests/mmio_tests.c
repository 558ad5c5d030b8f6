/*
 * mmio_tests.c: the MMIO printer, driven by raw-code guests (mmio_guests.S).
 */
#include "mm.h"
#include "mmio.h"
#include "npt.h"
#include "rawguest.h"
#include "test.h"

#define DECLARE_GUEST(n) extern const uint8_t mmio_guest_##n[], mmio_guest_##n##_end[]
DECLARE_GUEST(print);
DECLARE_GUEST(invalid_size);
DECLARE_GUEST(readback);
DECLARE_GUEST(outside);
DECLARE_GUEST(unreadable);

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

KTEST(mmio, outside_buffer)
{
	RUN(outside, 0x600D);
	if (r.console[0])
		test_fail(__FILE__, __LINE__, "a refused buffer printed \"%s\"", r.console);
	/* Five bad buffers and one LEN 0 (mmio_guests.S). */
	CHECK_EQ(printer.refused, 6);
	CHECK_EQ(printer.printed, 0);
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

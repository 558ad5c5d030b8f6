/*
 * mmio_tests.c: the MMIO printer, driven by raw-code guests (mmio_guests.S).
 */
#include "mm.h"
#include "mmio.h"
#include "rawguest.h"
#include "test.h"

#define DECLARE_GUEST(n) extern const uint8_t mmio_guest_##n[], mmio_guest_##n##_end[]
DECLARE_GUEST(print);
DECLARE_GUEST(invalid_size);
DECLARE_GUEST(readback);
DECLARE_GUEST(outside);

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
	if (!strstr(r.console, "Hello mmio!\n"))
		test_fail(__FILE__, __LINE__, "the console shows \"%s\", not \"Hello mmio!\"",
			  r.console);
	CHECK_EQ(printer.printed, 1);
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
	CHECK_EQ(printer.refused, 4);
	CHECK_EQ(printer.printed, 0);
}

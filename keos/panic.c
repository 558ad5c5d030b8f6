/*
 * panic.c: ending the run — panics with a symbolized backtrace, the "not
 * implemented" stub, and QEMU's exit device.
 *
 * The symbol table comes from the kernel's own ELF: the Makefile links the
 * kernel twice, the second time with a generated .ksyms section (see
 * tools/mksyms.sh), so a backtrace prints function names, not bare addresses.
 */
#include "cpu.h"
#include "printk.h"
#include "thread.h"
#include "trap.h"
#include "x86.h"

struct ksym {
	uint64_t addr;
	const char *name;
};
extern const struct ksym ksyms[];
extern const uint64_t ksyms_count;
extern char kernel_start[], kernel_end[];
extern char trap_return[]; /* trapasm.S: where trap() returns to */

volatile bool panicking;

__noreturn void qemu_exit(unsigned code)
{
	outl(0xf4, code); /* isa-debug-exit: QEMU exits with (code << 1) | 1 */
	for (;;) {	  /* no exit device: just stop */
		cli();
		hlt();
	}
}

const char *symbol_lookup(uint64_t addr, uint64_t *offset)
{
	/* Binary search for the last symbol at or below addr. */
	uint64_t lo = 0, hi = ksyms_count;
	if (addr < (uint64_t)kernel_start || addr >= (uint64_t)kernel_end)
		return NULL;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	*offset = addr - ksyms[lo - 1].addr;
	return ksyms[lo - 1].name;
}

static bool in_kernel(uint64_t a)
{
	return a >= 0xFFFF800000000000UL && (a & 7) == 0;
}

static bool is_push(const uint8_t *b) /* push %reg, or sub $n, %rsp */
{
	return (b[0] & 0xf8) == 0x50 || (b[0] == 0x41 && (b[1] & 0xf8) == 0x50) ||
	       (b[0] == 0x48 && (b[1] == 0x83 || b[1] == 0x81) && b[2] == 0xec);
}

/*
 * GCC gives a leaf function no frame at all, -fno-omit-frame-pointer or not
 * (GCC 12 ignores -mno-omit-leaf-frame-pointer): rbp is its caller's frame for
 * all of it, and a walk from rbp skips the caller. A function that starts with
 * no push and has no `push %rbp; mov %rsp, %rbp` before rip has the return
 * address at rsp (one that pushed registers later is not decoded: the caller
 * checks the address is kernel text).
 */
static bool frameless_so_far(uint64_t rip)
{
	uint64_t off = 0;
	if (!symbol_lookup(rip, &off))
		return false;
	const uint8_t *p = (const uint8_t *)(rip - off);
	if (is_push(p))
		return false;
	for (; p + 4 <= (const uint8_t *)rip; p++)
		if (p[0] == 0x55 && p[1] == 0x48 && p[2] == 0x89 && p[3] == 0xe5)
			return false;
	return true;
}

/*
 * An interrupt can stop a function before its `push %rbp; mov %rsp, %rbp` is
 * done, or at its `ret`: rbp is then still its caller's frame, and a walk
 * from rbp would skip the caller (a loop calling a small function was
 * reported one function too far out). The caller's return address is on the
 * stack instead: at rsp, or above the pushed rbp.
 */
static uint64_t return_address_on_stack(uint64_t rip, uint64_t rsp)
{
	const uint8_t *insn = (const uint8_t *)rip;
	if (rip < (uint64_t)kernel_start || rip + 3 > (uint64_t)kernel_end || !in_kernel(rsp))
		return 0;
	if (insn[0] == 0x55 || insn[0] == 0xc3) /* push %rbp, ret */
		return ((uint64_t *)rsp)[0];
	if (insn[0] == 0x48 && insn[1] == 0x89 && insn[2] == 0xe5) /* mov %rsp, %rbp */
		return ((uint64_t *)rsp)[1];
	if (frameless_so_far(rip))
		return ((uint64_t *)rsp)[0];
	return 0;
}

static void print_frame(int i, uint64_t rip)
{
	uint64_t off = 0;
	const char *name = symbol_lookup(rip, &off);
	printk("  #%d 0x%016lx %s+0x%lx\n", i, rip, name ? name : "??", off);
}

/*
 * Frames #i.. of the frame-pointer chain: rip is in the function whose frame is
 * rbp, or, when rsp is not 0, where an interrupt or exception stopped the code
 * (it may have no frame of its own yet: see return_address_on_stack). A frame
 * that returns into trap_common sits just below the trapframe that trap_common
 * built: the walk goes on from the code that frame interrupted, so a report
 * taken inside a timer tick or a preemption still shows the code it stopped.
 */
static void walk_frames(int i, uint64_t rip, uint64_t rsp, uint64_t rbp)
{
	for (; i < 32; i++) {
		print_frame(i, rip);
		uint64_t ret = rsp ? return_address_on_stack(rip, rsp) : 0;
		rsp = 0;
		if (ret && ret - 1 >= (uint64_t)kernel_start && ret - 1 < (uint64_t)kernel_end) {
			rip = ret - 1; /* the frame is still its caller's: rbp stays */
			continue;
		}
		if (!rbp || !in_kernel(rbp))
			break;
		uint64_t *frame = (uint64_t *)rbp;
		if (frame[1] == (uint64_t)trap_return) {
			const struct trapframe *tf = (const struct trapframe *)&frame[2];
			print_frame(++i, frame[1] - 1);
			rip = tf->rip, rsp = tf->rsp, rbp = tf->rbp;
		} else {
			rip = frame[1] - 1; /* inside the call instruction, not after it */
			rbp = frame[0];
		}
		if (rip < (uint64_t)kernel_start || rip >= (uint64_t)kernel_end)
			break;
	}
}

void backtrace_from(uint64_t rip, uint64_t rbp)
{
	printk("BACKTRACE:\n");
	walk_frames(0, rip, 0, rbp);
}

void backtrace_interrupted(uint64_t rip, uint64_t rsp, uint64_t rbp)
{
	printk("BACKTRACE:\n");
	walk_frames(0, rip, rsp, rbp);
}

/* The frame pointer of our caller: saved at the bottom of our own frame. */
#define callers_frame() (*(uint64_t *)__builtin_frame_address(0))

static void panic_header(const char *msg)
{
	panicking = true; /* printk stops taking the console lock */
	struct thread *t = mycpu()->current;
	printk("\nPANIC: %s (cpu %d, thread %s)\n", msg, mycpu()->id, t ? thread_name(t) : "boot");
}

__noreturn void panic(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	cli();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	panic_header(msg);
	backtrace_from((uint64_t)__builtin_return_address(0) - 1, callers_frame());
	qemu_exit(QEMU_EXIT_PANIC);
}

void panic_trap(const struct trapframe *tf, const char *what)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "%s (vector %lu, error 0x%lx) at rip 0x%lx", what, tf->vector,
		 tf->error, tf->rip);
	if (tf->vector == T_PAGE_FAULT && read_cr2() < 4096)
		snprintf(msg, sizeof(msg),
			 "NULL pointer dereference: page fault at 0x%lx, rip 0x%lx", read_cr2(),
			 tf->rip);
	panic_header(msg);
	print_trapframe(tf);
	backtrace_interrupted(tf->rip, tf->rsp, tf->rbp);
	qemu_exit(QEMU_EXIT_PANIC);
}

__noreturn void not_implemented(const char *func, const char *file, int line)
{
	panicking = true;
	printk("\nNOT-IMPLEMENTED %s (%s:%d)\n", func, file, line);
	backtrace_from((uint64_t)__builtin_return_address(0) - 1, callers_frame());
	qemu_exit(QEMU_EXIT_NOT_IMPL);
}

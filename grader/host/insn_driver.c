/*
 * Host driver for kev/insn.c, used by grader/test_insn.py.
 *
 * Reads one command per line on stdin and prints one result line per command:
 *
 *   d HEX
 *	decode the bytes (given in a buffer of exactly that size, so ASan catches
 *	reads past `avail`) and print the decoded fields, or "err MESSAGE".
 *
 *   x HEX EA REG=VAL...
 *	decode the bytes, then run them natively on this CPU with all sixteen
 *	registers set to random values (except the REG=VAL pins, which make the
 *	memory operand point at EA inside a scratch buffer), and check that
 *	insn_store_value / insn_load_result predict exactly what the CPU did to the
 *	registers and the buffer. Prints "exec ok" or "exec FAIL ...".
 *	The CPU is the oracle for sizes, register numbers, AH..BH, zero/sign
 *	extension and the 32-bit upper-half clearing rule.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined
 *        -Ikeos -Ikev -o build/host/insn_driver grader/host/insn_driver.c kev/insn.c
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "insn.h"

#define SCRATCH_BASE 0x30000000UL /* fixed, so absolute-address forms can target it */
#define SCRATCH_SIZE 0x2000UL
#define TRIALS 8

static const char *const reg_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/*
 * The trampoline: saves the callee-saved registers and rsp, loads all sixteen
 * registers from tramp_regs, runs the instruction placed in the 15-byte slot
 * (the rest of the slot stays NOPs), stores all sixteen back and returns. It is
 * copied to an executable page; every reference inside it is RIP-relative to
 * its own copy, and the guest instruction gets no stack (rsp is just data).
 */
__asm__(
	"	.section .rodata\n"
	"	.globl tramp_begin, tramp_slot, tramp_regs, tramp_end\n"
	"tramp_begin:\n"
	"	push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
	"	mov %rsp, tramp_saved_rsp(%rip)\n"
	"	mov tramp_regs+0x00(%rip), %rax\n"
	"	mov tramp_regs+0x08(%rip), %rcx\n"
	"	mov tramp_regs+0x10(%rip), %rdx\n"
	"	mov tramp_regs+0x18(%rip), %rbx\n"
	"	mov tramp_regs+0x20(%rip), %rsp\n"
	"	mov tramp_regs+0x28(%rip), %rbp\n"
	"	mov tramp_regs+0x30(%rip), %rsi\n"
	"	mov tramp_regs+0x38(%rip), %rdi\n"
	"	mov tramp_regs+0x40(%rip), %r8\n"
	"	mov tramp_regs+0x48(%rip), %r9\n"
	"	mov tramp_regs+0x50(%rip), %r10\n"
	"	mov tramp_regs+0x58(%rip), %r11\n"
	"	mov tramp_regs+0x60(%rip), %r12\n"
	"	mov tramp_regs+0x68(%rip), %r13\n"
	"	mov tramp_regs+0x70(%rip), %r14\n"
	"	mov tramp_regs+0x78(%rip), %r15\n"
	"tramp_slot:\n"
	"	.fill 15, 1, 0x90\n"
	"	mov %rax, tramp_regs+0x00(%rip)\n"
	"	mov %rcx, tramp_regs+0x08(%rip)\n"
	"	mov %rdx, tramp_regs+0x10(%rip)\n"
	"	mov %rbx, tramp_regs+0x18(%rip)\n"
	"	mov %rsp, tramp_regs+0x20(%rip)\n"
	"	mov %rbp, tramp_regs+0x28(%rip)\n"
	"	mov %rsi, tramp_regs+0x30(%rip)\n"
	"	mov %rdi, tramp_regs+0x38(%rip)\n"
	"	mov %r8, tramp_regs+0x40(%rip)\n"
	"	mov %r9, tramp_regs+0x48(%rip)\n"
	"	mov %r10, tramp_regs+0x50(%rip)\n"
	"	mov %r11, tramp_regs+0x58(%rip)\n"
	"	mov %r12, tramp_regs+0x60(%rip)\n"
	"	mov %r13, tramp_regs+0x68(%rip)\n"
	"	mov %r14, tramp_regs+0x70(%rip)\n"
	"	mov %r15, tramp_regs+0x78(%rip)\n"
	"	mov tramp_saved_rsp(%rip), %rsp\n"
	"	pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
	"	ret\n"
	"	.balign 8\n"
	"tramp_regs:\n"
	"	.fill 16, 8, 0\n"
	"tramp_saved_rsp:\n"
	"	.quad 0\n"
	"tramp_end:\n"
	"	.text\n");

extern const uint8_t tramp_begin[], tramp_slot[], tramp_regs[], tramp_end[];

static uint8_t *tramp;          /* executable copy of the trampoline */
static uint8_t *scratch;        /* the buffer memory operands point into */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static sigjmp_buf fault_jmp;    /* where a fault in the native instruction lands */

static uint64_t rand64(void)
{
	/* xorshift64: deterministic, so a failure reproduces. */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * A wrong decode can make the native run fault (a mis-sized instruction runs
 * into the NOPs as something else). Report it as a failed test, not a crash.
 * The handler runs on its own stack, since rsp holds random data then.
 */
static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

static void catch_faults(void)
{
	static uint8_t altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_ONSTACK | SA_NODEFER };
	const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };

	if (sigaltstack(&ss, NULL) < 0) {
		perror("insn_driver: sigaltstack");
		exit(2);
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void setup(void)
{
	size_t tsize = (size_t)(tramp_end - tramp_begin);

	tramp = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	scratch = mmap((void *)SCRATCH_BASE, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (tramp == MAP_FAILED || scratch != (uint8_t *)SCRATCH_BASE) {
		perror("insn_driver: mmap");
		exit(2);
	}
	memcpy(tramp, tramp_begin, tsize);
	catch_faults();
}

/* Parse hex digits into a malloc'd buffer of exactly the right size. */
static uint8_t *parse_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *buf = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			fprintf(stderr, "insn_driver: bad hex %s\n", hex);
			exit(2);
		}
		buf[i] = (uint8_t)b;
	}
	*len = n;
	return buf;
}

static const char *ext_name(enum insn_ext ext)
{
	switch (ext) {
	case INSN_EXT_NONE:
		return "none";
	case INSN_EXT_ZERO:
		return "zero";
	case INSN_EXT_SIGN:
		return "sign";
	}
	return "?";
}

static void cmd_decode(const char *hex)
{
	size_t n;
	uint8_t *code = parse_hex(hex, &n);
	struct insn_mmio in;
	const char *err = "(err not set)";

	memset(&in, 0xa5, sizeof(in)); /* fields the decoder forgets show up as garbage */
	if (insn_decode_mmio(code, n, &in, &err) < 0)
		printf("err %s\n", err);
	else
		printf("ok len=%d size=%d write=%d imm_src=%d imm=0x%" PRIx64
		       " reg=%d high=%d ext=%s dst=%d\n",
		       in.len, in.size, in.is_write, in.src_is_imm, in.imm, in.reg,
		       in.high_byte, ext_name(in.ext), in.dst_size);
	free(code);
}

/* Run the instruction on this CPU; returns 0, or the signal number if it faulted. */
static int run_native(const uint8_t *code, size_t n, uint64_t regs[16])
{
	uint64_t *tregs = (uint64_t *)(tramp + (tramp_regs - tramp_begin));
	uint8_t *slot = tramp + (tramp_slot - tramp_begin);
	int sig;

	memset(slot, 0x90, INSN_MAX_LEN);
	memcpy(slot, code, n);
	memcpy(tregs, regs, 16 * sizeof(uint64_t));
	__builtin___clear_cache((char *)slot, (char *)slot + INSN_MAX_LEN);
	sig = sigsetjmp(fault_jmp, 1);
	if (sig)
		return sig;
	((void (*)(void))tramp)();
	memcpy(regs, tregs, 16 * sizeof(uint64_t));
	return 0;
}

/* One randomized run; returns 0 or prints the mismatch and returns -1. */
static int exec_trial(const uint8_t *code, const struct insn_mmio *in, uint64_t ea,
		      const int *pin_reg, const uint64_t *pin_val, int npins, int trial)
{
	static uint8_t before[SCRATCH_SIZE], expect_mem[SCRATCH_SIZE];
	uint64_t regs[16], expect[16];
	size_t off = ea - SCRATCH_BASE;
	uint64_t value = 0;
	int sig;

	for (int i = 0; i < 16; i++)
		regs[i] = rand64();
	for (int i = 0; i < npins; i++)
		regs[pin_reg[i]] = pin_val[i];
	/* Even trials have every memory byte negative, odd ones positive: both extensions. */
	for (size_t i = 0; i < SCRATCH_SIZE; i++)
		scratch[i] = (uint8_t)((rand64() & 0x7f) | (trial % 2 ? 0 : 0x80));
	memcpy(before, scratch, SCRATCH_SIZE);
	memcpy(expect_mem, scratch, SCRATCH_SIZE);
	memcpy(expect, regs, sizeof(regs));

	if (in->is_write) {
		uint64_t v = insn_store_value(in, regs);

		for (int i = 0; i < in->size; i++)
			expect_mem[off + i] = (uint8_t)(v >> (8 * i));
	} else {
		for (int i = 0; i < in->size; i++)
			value |= (uint64_t)before[off + i] << (8 * i);
		/* Give the helper junk above in->size bytes: it must ignore it. */
		if (in->size < 8)
			value |= rand64() << (8 * in->size);
		insn_load_result(in, expect, value);
	}

	sig = run_native(code, (size_t)in->len, regs);
	if (sig) {
		printf("exec FAIL trial %d: the native run got signal %d (%s)\n", trial, sig,
		       strsignal(sig));
		return -1;
	}

	for (int i = 0; i < 16; i++) {
		if (regs[i] != expect[i]) {
			printf("exec FAIL trial %d: %s is 0x%016" PRIx64
			       ", helpers predicted 0x%016" PRIx64 "\n",
			       trial, reg_names[i], regs[i], expect[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < SCRATCH_SIZE; i++) {
		if (scratch[i] != expect_mem[i]) {
			printf("exec FAIL trial %d: byte at EA%+ld is 0x%02x, helpers predicted "
			       "0x%02x\n", trial, (long)i - (long)off, scratch[i], expect_mem[i]);
			return -1;
		}
	}
	return 0;
}

static void cmd_exec(char *args)
{
	char *hex = strtok(args, " ");
	char *ea_text = strtok(NULL, " ");
	int pin_reg[16], npins = 0;
	uint64_t pin_val[16], ea;
	struct insn_mmio in;
	const char *err;
	uint8_t *code;
	size_t n;
	char *tok;

	if (!hex || !ea_text) {
		fprintf(stderr, "insn_driver: x needs HEX EA\n");
		exit(2);
	}
	ea = strtoull(ea_text, NULL, 16);
	while ((tok = strtok(NULL, " ")) && npins < 16) {
		pin_reg[npins] = atoi(tok);
		pin_val[npins] = strtoull(strchr(tok, '=') + 1, NULL, 16);
		npins++;
	}
	code = parse_hex(hex, &n);
	if (insn_decode_mmio(code, n, &in, &err) < 0) {
		printf("exec FAIL decode: %s\n", err);
	} else if (ea < SCRATCH_BASE || ea + 8 > SCRATCH_BASE + SCRATCH_SIZE ||
		   (size_t)in.len > n) {
		printf("exec FAIL bad test: EA 0x%" PRIx64 " or length %d\n", ea, in.len);
	} else {
		int trial;

		for (trial = 0; trial < TRIALS; trial++)
			if (exec_trial(code, &in, ea, pin_reg, pin_val, npins, trial) < 0)
				break;
		if (trial == TRIALS)
			printf("exec ok\n");
	}
	free(code);
}

int main(void)
{
	char line[512];

	setup();
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == 'd' && line[1] == ' ') {
			cmd_decode(line + 2);
		} else if (line[0] == 'x' && line[1] == ' ') {
			cmd_exec(line + 2);
		} else {
			fprintf(stderr, "insn_driver: bad command: %s\n", line);
			return 2;
		}
		fflush(stdout);
	}
	return 0;
}

/*
 * Decoding the guest instruction behind an MMIO exit.
 *
 * QEMU's SVM has no decode assists: a #NPF exit on an MMIO page tells us the
 * guest-physical address and whether it was a read or a write, but not which
 * register, how wide the access was, or how long the instruction is. So the
 * hypervisor fetches up to 15 bytes at the guest's RIP and decodes them here.
 *
 * Only 64-bit-mode MOV forms that compilers emit for volatile loads and stores
 * are understood: 88/89/8A/8B (mov reg), C6/C7 (mov imm), 0F B6/B7/BE/BF
 * (movzx/movsx), 63 (movsxd) and A0-A3 (mov with a 64-bit absolute address).
 * The effective address is not computed: the exit already gives it.
 *
 * This file is shared by the kernel and the host unit tests, so it includes
 * nothing but "types.h".
 */
#pragma once
#include "types.h"

#define INSN_MAX_LEN 15 /* architectural limit; longer instructions raise #GP */

/* How a load's memory value becomes the destination register's value. */
enum insn_ext {
	INSN_EXT_NONE, /* plain mov: dst_size == size */
	INSN_EXT_ZERO, /* movzx */
	INSN_EXT_SIGN, /* movsx, movsxd */
};

struct insn_mmio {
	int len;	 /* instruction length in bytes: the guest's RIP advances by this */
	int size;	 /* bytes read or written in memory: 1, 2, 4 or 8 */
	bool is_write;	 /* store to memory (true) or load from memory (false) */
	bool src_is_imm; /* store of an immediate rather than a register */
	uint64_t imm;	 /* the immediate, sign-extended to 64 bits, when src_is_imm */
	int reg;	 /* 0..15 = rax,rcx,rdx,rbx,rsp,rbp,rsi,rdi,r8..r15; unused if src_is_imm */
	bool high_byte;	 /* reg names AH/CH/DH/BH: bits 8..15 of reg 0..3 */
	enum insn_ext ext;
	int dst_size; /* register bytes a load writes (2, 4, 8 for movzx/movsx); 0 for stores */
};

/*
 * Decode the instruction at code[0..avail). Returns 0 and fills *out, or -1 and
 * points *err at a short static message (unsupported instruction, LOCK/REP
 * prefix, register operand, truncated input, longer than 15 bytes).
 */
int insn_decode_mmio(const uint8_t *code, size_t avail, struct insn_mmio *out, const char **err);

/* The value a decoded store writes to memory, truncated to in->size bytes. */
uint64_t insn_store_value(const struct insn_mmio *in, const uint64_t gprs[16]);

/*
 * Complete a decoded load that read `value` (its low in->size bytes count) from
 * the device: update gprs the way the CPU would. 32-bit destinations clear bits
 * 32..63, 8/16-bit destinations keep the other bits, AH..BH write bits 8..15,
 * movzx/movsx extend first. Does nothing for a store.
 */
void insn_load_result(const struct insn_mmio *in, uint64_t gprs[16], uint64_t value);

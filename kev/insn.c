/*
 * A tiny x86-64 decoder for the MOV instructions that touch MMIO pages.
 *
 * An instruction is: legacy prefixes, an optional REX prefix, the opcode (one
 * byte, or 0F and a second byte), ModRM, an optional SIB byte, a 0/1/4-byte
 * displacement, and an immediate. We walk those fields in order, keeping a
 * cursor; every fetch checks both the bytes we were given and the 15-byte
 * architectural limit. See the Intel SDM vol. 2, chapter 2, or the AMD APM
 * vol. 3, chapter 1.
 */
#include "insn.h"

/* REX prefix (0x40..0x4F) bits. */
#define REX_W 0x8 /* 64-bit operand size */
#define REX_R 0x4 /* high bit of ModRM.reg */

struct decoder {
	const uint8_t *code;
	size_t avail;
	size_t pos; /* bytes consumed so far */
	const char *err;
	uint8_t rex;	 /* 0 if no REX prefix, else the whole prefix byte */
	bool opsize16;	 /* 0x66 seen */
	bool addrsize32; /* 0x67 seen */
};

static int fail(struct decoder *d, const char *msg)
{
	d->err = msg;
	return -1;
}

static int fetch(struct decoder *d, uint8_t *b)
{
	if (d->pos >= INSN_MAX_LEN)
		return fail(d, "instruction longer than 15 bytes");
	if (d->pos >= d->avail)
		return fail(d, "truncated instruction");
	*b = d->code[d->pos++];
	return 0;
}

/* Fetch an n-byte little-endian value and sign-extend it to 64 bits. */
static int fetch_signed(struct decoder *d, int n, uint64_t *v)
{
	uint64_t x = 0;
	uint8_t b;

	for (int i = 0; i < n; i++) {
		if (fetch(d, &b) < 0)
			return -1;
		x |= (uint64_t)b << (8 * i);
	}
	if (n < 8 && (x >> (8 * n - 1)) & 1)
		x |= ~0ULL << (8 * n);
	*v = x;
	return 0;
}

/* Displacements and absolute addresses: only their length matters to us. */
static int skip(struct decoder *d, int n)
{
	uint64_t ignored;

	return fetch_signed(d, n, &ignored);
}

/*
 * Consume legacy prefixes and REX, and return the first opcode byte. A REX
 * prefix counts only if it comes right before the opcode; the CPU ignores a
 * REX that is followed by another prefix, so we forget it in that case.
 */
static int parse_prefixes(struct decoder *d, uint8_t *opcode)
{
	uint8_t b;

	for (;;) {
		if (fetch(d, &b) < 0)
			return -1;
		switch (b) {
		case 0x66:
			d->opsize16 = true;
			d->rex = 0;
			continue;
		case 0x67:
			d->addrsize32 = true;
			d->rex = 0;
			continue;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
		case 0x64:
		case 0x65:
			/* Segment overrides change the address, which the exit already gave us. */
			d->rex = 0;
			continue;
		case 0xf0:
			return fail(d, "LOCK prefix not supported on MMIO");
		case 0xf2:
		case 0xf3:
			return fail(d, "REP/REPNE prefix not supported on MMIO");
		}
		if ((b & 0xf0) == 0x40) {
			d->rex = b;
			continue;
		}
		*opcode = b;
		return 0;
	}
}

/*
 * Consume ModRM, SIB and displacement of a memory operand; return ModRM.reg
 * (without REX.R) in *reg_field. Only the low three bits of rm and SIB.base
 * pick the special cases, so r12 needs a SIB like rsp and r13 a displacement
 * like rbp. With 0x67 the same layout holds (32-bit addressing, RIP becomes EIP).
 */
static int parse_modrm(struct decoder *d, int *reg_field)
{
	uint8_t modrm, sib;
	int mod, rm;

	if (fetch(d, &modrm) < 0)
		return -1;
	mod = modrm >> 6;
	rm = modrm & 7;
	*reg_field = (modrm >> 3) & 7;
	if (mod == 3)
		return fail(d, "register operand, not a memory access");
	if (rm == 4) {
		if (fetch(d, &sib) < 0)
			return -1;
		if (mod == 0 && (sib & 7) == 5)
			return skip(d, 4); /* no base register: disp32 */
	} else if (mod == 0 && rm == 5) {
		return skip(d, 4); /* RIP-relative disp32 */
	}
	if (mod == 1)
		return skip(d, 1);
	if (mod == 2)
		return skip(d, 4);
	return 0;
}

/* Operand size of the non-byte opcodes: REX.W beats 0x66. */
static int operand_size(const struct decoder *d)
{
	if (d->rex & REX_W)
		return 8;
	return d->opsize16 ? 2 : 4;
}

/* The full register number named by ModRM.reg. */
static int reg_num(const struct decoder *d, int field)
{
	return field | (d->rex & REX_R ? 8 : 0);
}

/*
 * An 8-bit register named by ModRM.reg. Without any REX prefix, numbers 4..7
 * are AH, CH, DH, BH (bits 8..15 of rax..rbx); with one they are SPL..DIL.
 */
static void set_reg8(const struct decoder *d, int field, struct insn_mmio *out)
{
	if (d->rex == 0 && field >= 4) {
		out->reg = field - 4;
		out->high_byte = true;
	} else {
		out->reg = reg_num(d, field);
	}
}

/* 88/89 store reg, 8A/8B load reg. */
static int decode_mov_reg(struct decoder *d, uint8_t op, struct insn_mmio *out)
{
	int field;

	if (parse_modrm(d, &field) < 0)
		return -1;
	out->is_write = op == 0x88 || op == 0x89;
	out->size = (op == 0x88 || op == 0x8a) ? 1 : operand_size(d);
	if (out->size == 1)
		set_reg8(d, field, out);
	else
		out->reg = reg_num(d, field);
	if (!out->is_write)
		out->dst_size = out->size;
	return 0;
}

/* C6 /0 ib, C7 /0 iw/id: store an immediate (imm32 sign-extended with REX.W). */
static int decode_mov_imm(struct decoder *d, uint8_t op, struct insn_mmio *out)
{
	int field = 0;
	int ret = parse_modrm(d, &field);

	/* Only /0 is MOV (C6 F8 is XABORT, C7 F8 XBEGIN): say that, not "register operand". */
	if (field != 0)
		return fail(d, "unsupported opcode (C6/C7 with ModRM.reg != 0)");
	if (ret < 0)
		return -1;
	out->is_write = true;
	out->src_is_imm = true;
	out->size = op == 0xc6 ? 1 : operand_size(d);
	return fetch_signed(d, out->size == 8 ? 4 : out->size, &out->imm);
}

/* 0F B6/B7 movzx, 0F BE/BF movsx: load a byte or word, extend into a 16/32/64-bit register. */
static int decode_movx(struct decoder *d, uint8_t op2, struct insn_mmio *out)
{
	int field;

	if (parse_modrm(d, &field) < 0)
		return -1;
	out->size = (op2 & 1) ? 2 : 1;
	out->ext = op2 >= 0xbe ? INSN_EXT_SIGN : INSN_EXT_ZERO;
	out->reg = reg_num(d, field);
	out->dst_size = operand_size(d);
	return 0;
}

/*
 * 63 movsxd: with REX.W, sign-extend a dword into a 64-bit register; without
 * it the CPU does a plain 32-bit (or 16-bit with 0x66) load.
 */
static int decode_movsxd(struct decoder *d, struct insn_mmio *out)
{
	int field;

	if (parse_modrm(d, &field) < 0)
		return -1;
	out->reg = reg_num(d, field);
	if (d->rex & REX_W) {
		out->size = 4;
		out->ext = INSN_EXT_SIGN;
		out->dst_size = 8;
	} else {
		out->size = operand_size(d);
		out->dst_size = out->size;
	}
	return 0;
}

/*
 * A0/A1 load and A2/A3 store AL/AX/EAX/RAX at an absolute address ("moffs"),
 * which is 8 bytes long in 64-bit mode, 4 with 0x67. No ModRM.
 */
static int decode_moffs(struct decoder *d, uint8_t op, struct insn_mmio *out)
{
	out->is_write = op >= 0xa2;
	out->size = (op & 1) ? operand_size(d) : 1;
	out->reg = 0;
	if (!out->is_write)
		out->dst_size = out->size;
	return skip(d, d->addrsize32 ? 4 : 8);
}

int insn_decode_mmio(const uint8_t *code, size_t avail, struct insn_mmio *out, const char **err)
{
	struct decoder d = {.code = code, .avail = avail};
	struct insn_mmio r = {.ext = INSN_EXT_NONE};
	uint8_t op, op2;
	int ret;

	if (parse_prefixes(&d, &op) < 0)
		goto bad;
	switch (op) {
	case 0x88:
	case 0x89:
	case 0x8a:
	case 0x8b:
		ret = decode_mov_reg(&d, op, &r);
		break;
	case 0xc6:
	case 0xc7:
		ret = decode_mov_imm(&d, op, &r);
		break;
	case 0x63:
		ret = decode_movsxd(&d, &r);
		break;
	case 0xa0:
	case 0xa1:
	case 0xa2:
	case 0xa3:
		ret = decode_moffs(&d, op, &r);
		break;
	case 0x0f:
		if (fetch(&d, &op2) < 0)
			goto bad;
		if (op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf) {
			fail(&d, "unsupported opcode (0F xx other than movzx/movsx)");
			goto bad;
		}
		ret = decode_movx(&d, op2, &r);
		break;
	default:
		fail(&d, "unsupported opcode (not a MOV to or from memory)");
		goto bad;
	}
	if (ret < 0)
		goto bad;
	r.len = (int)d.pos;
	*out = r;
	return 0;
bad:
	if (err)
		*err = d.err;
	return -1;
}

static uint64_t size_mask(int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static uint64_t sign_extend(uint64_t v, int size)
{
	int shift = 64 - 8 * size;

	return (uint64_t)((int64_t)(v << shift) >> shift);
}

uint64_t insn_store_value(const struct insn_mmio *in, const uint64_t gprs[16])
{
	uint64_t v;

	if (in->src_is_imm)
		v = in->imm;
	else if (in->high_byte)
		v = gprs[in->reg] >> 8;
	else
		v = gprs[in->reg];
	return v & size_mask(in->size);
}

void insn_load_result(const struct insn_mmio *in, uint64_t gprs[16], uint64_t value)
{
	uint64_t *r = &gprs[in->reg];
	uint64_t v = value & size_mask(in->size);

	if (in->is_write)
		return;
	if (in->ext == INSN_EXT_SIGN)
		v = sign_extend(v, in->size);
	switch (in->dst_size) {
	case 1:
		if (in->high_byte)
			*r = (*r & ~0xff00ULL) | (v & 0xff) << 8;
		else
			*r = (*r & ~0xffULL) | (v & 0xff);
		break;
	case 2:
		*r = (*r & ~0xffffULL) | (v & 0xffff);
		break;
	case 4:
		*r = v & 0xffffffffULL; /* a 32-bit write clears bits 32..63 */
		break;
	default:
		*r = v;
		break;
	}
}

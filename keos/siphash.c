/*
 * siphash.c: SipHash-2-4, as in the paper's reference code: two compression rounds per
 * 8-byte word, four finalization rounds, a 128-bit key and a 64-bit result.
 */
#include "siphash.h"

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void sip_rounds(uint64_t v[4], int n)
{
	while (n--) {
		v[0] += v[1];
		v[1] = ROTL(v[1], 13) ^ v[0];
		v[0] = ROTL(v[0], 32);
		v[2] += v[3];
		v[3] = ROTL(v[3], 16) ^ v[2];
		v[0] += v[3];
		v[3] = ROTL(v[3], 21) ^ v[0];
		v[2] += v[1];
		v[1] = ROTL(v[1], 17) ^ v[2];
		v[2] = ROTL(v[2], 32);
	}
}

static void sip_absorb(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sip_rounds(v, 2);
	v[0] ^= m;
}

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_SIZE], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575UL, k1 ^ 0x646f72616e646f6dUL,
			 k0 ^ 0x6c7967656e657261UL, k1 ^ 0x7465646279746573UL};
	size_t whole = len & ~(size_t)7;

	for (size_t i = 0; i < whole; i += 8)
		sip_absorb(v, load_le64(p + i));
	uint64_t last = (uint64_t)len << 56; /* the length's low byte, then the tail bytes */
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)p[whole + i] << (8 * i);
	sip_absorb(v, last);
	v[2] ^= 0xff;
	sip_rounds(v, 4);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

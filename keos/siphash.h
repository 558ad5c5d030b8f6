/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash for short messages. The test
 * runner uses it as a MAC on its verdict lines (keos/test.c); the grader checks the same
 * function in Python (grader/harness/verdict.py). */
#pragma once
#include "types.h"

#define SIPHASH_KEY_SIZE 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_SIZE], const void *data, size_t len);

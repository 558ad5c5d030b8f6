/*
 * checksums.c: room for the self-check table, in a section of its own.
 *
 * Zeros here; tools/elfsum overwrites them in the linked ELF file. The table
 * is defined in its own file so that main.c, which only sees an extern, cannot
 * fold the zeros into its code.
 */
#include "checksums.h"

__attribute__((section(".checksums"), used)) const struct csum_table image_sums = {.magic = 0};

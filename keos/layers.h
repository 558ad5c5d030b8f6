/*
 * layers.h: where the layers built on KeOS start.
 *
 * KeOS knows none of them. kmain calls layers_init() once, after the CPUs,
 * the disk and interrupts are up and before the first test; the kernel's
 * composition root (project3/provided/kernel.c) defines it and decides what
 * starts, in what order.
 */
#pragma once

void layers_init(void);

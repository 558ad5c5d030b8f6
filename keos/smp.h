/* smp.h: bringing up the other CPUs (smp.c). */
#pragma once

extern int ncpu; /* CPUs online */
void smp_boot(void);

/*
 * The per-test watchdog: a time budget the kernel enforces itself, so that a
 * hang ends within seconds with a report of where every CPU was (watchdog.c).
 */
#pragma once
#include "types.h"

struct spinlock;
struct trapframe;
struct vcpu;

void watchdog_init(void);		  /* read the budget from fw_cfg (none: no watchdog) */
void watchdog_arm(const char *test);	  /* at TEST-START */
void watchdog_disarm(void);		  /* when the test's thread has ended */
void watchdog_tick(struct trapframe *tf); /* every CPU's timer interrupt */
/* From a CPU spinning on l since `since_us`: fires the watchdog when the budget is
 * spent, or with a LOCK-WAIT report when the wait is a stall. */
void watchdog_lock_wait(const struct spinlock *l, uint64_t since_us);
/* The NMI handler: false if the NMI is not the watchdog's; otherwise never returns. */
bool watchdog_nmi(struct trapframe *tf);
/* A layer that runs guests (kev) says how to print the one a CPU runs (cpu->vcpu). */
void watchdog_set_guest_describer(void (*describe)(const struct vcpu *vcpu));

/*
 * vcpu.h: one vCPU's life (vcpu.c): its first register state, the run loop
 * that enters the guest and hands each exit to exit.c, and its end.
 */
#pragma once
#include "vm.h"

/* Initial register states. */
void vcpu_init_protected32(struct vcpu *vcpu, uint64_t rip); /* like a multiboot loader */
void vcpu_init_long64(struct vcpu *vcpu, uint64_t rip, uint64_t cr3, uint64_t rsp);

void vcpu_loop(void *arg); /* the thread body: VMRUN, handle the exit, repeat */
/* "  in guest: ..." for the watchdog's report on a CPU that runs this vCPU. */
void vcpu_describe(const struct vcpu *vcpu);
/* End this vCPU (an error or a triple fault ends the whole VM); code: HC_EXIT's. */
void vcpu_end(struct vcpu *vcpu, enum vcpu_verdict verdict, uint64_t guest_code);

/*
 * exit.h: what happens at each #VMEXIT (exit.c), one handler per exit code.
 */
#pragma once
#include "types.h"

struct vcpu;

/* Handle vcpu->exit. Returns true to keep running the guest. */
bool handle_exit(struct vcpu *vcpu);

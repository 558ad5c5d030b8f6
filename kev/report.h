/*
 * report.h: how a VM ends, in words (report.c): an error that ends it, a
 * crashed vCPU's state, the one-line verdict tests and the grader read.
 */
#pragma once
#include "types.h"

struct vm;
struct vcpu;

/* End the whole VM with an error (printed, kept in vm->error). */
void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a crashed vCPU's state: event, RIP (symbolized), bytes there, its page. */
void vcpu_report_crash(struct vcpu *vcpu);
/* The VM's verdict as one line: "exited 0", "triple fault ...", "error: ...". */
const char *vm_verdict_string(struct vm *vm, char *buf, size_t len);
/* The fault handler's name, for messages that blame it. */
const char *vm_fault_handler_name(const struct vm *vm);

/*
 * console.h: the guest's console (console.c). What a guest prints (COM1, a
 * hypercall, a device) is collected line by line and printed on the host's
 * console prefixed "guest| ", so that it cannot pose as the host's own lines,
 * and kept in vm->console for tests to check.
 */
#pragma once
#include "types.h"

struct vcpu;

void vcpu_console_putc(struct vcpu *vcpu, char c);
/* Print guest text on the host console, line by line, prefixed "guest| ". */
void vcpu_console_write(struct vcpu *vcpu, const char *text, size_t len);
void console_flush(struct vcpu *vcpu); /* the line in progress, if any */

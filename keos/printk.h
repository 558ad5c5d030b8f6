/* Console output (printk.c, vsnprintf.c on serial.c) and kernel panics (panic.c). */
#pragma once
#include "exit_status.h"
#include "types.h"

int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintk(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Print the message, registers of the caller, a symbolized backtrace; exit QEMU as PANIC. */
__noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Stubs students must fill in: prints NOT-IMPLEMENTED and exits QEMU with its own status. */
__noreturn void not_implemented(const char *func, const char *file, int line);
#define TODO() not_implemented(__func__, __FILE__, __LINE__)

/* Print "#N 0xaddr function+off" lines for the frame-pointer chain starting at rbp. */
void backtrace_from(uint64_t rip, uint64_t rbp);
/* The same for code an interrupt stopped (rip, rsp, rbp of its trap frame), which may be
 * in a function's first instructions or at its ret, before or after its frame exists. */
void backtrace_interrupted(uint64_t rip, uint64_t rsp, uint64_t rbp);
const char *symbol_lookup(uint64_t addr, uint64_t *offset);

/* Ending the run with one of exit_status.h's codes (QEMU_EXIT_PASS ...). */
__noreturn void qemu_exit(unsigned code);

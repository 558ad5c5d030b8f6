/*
 * exit_status.h: how a run of the kernel ends, the one list. Plain #defines,
 * so that the kernel's C and the grader's Python (grader/harness/log.py, via
 * harness/cheader.py) read the same numbers.
 *
 * QEMU's isa-debug-exit device turns a write of v to port 0xf4 into the exit
 * status (v << 1) | 1. The grader tells verdicts apart by status.
 */
#pragma once

#define QEMU_EXIT_PASS	      0x10 /* status 33 */
#define QEMU_EXIT_FAIL	      0x11 /* status 35 */
#define QEMU_EXIT_PANIC	      0x12 /* status 37 */
#define QEMU_EXIT_NOT_IMPL    0x13 /* status 39 */
#define QEMU_EXIT_UNSUPPORTED 0x14 /* status 41: this CPU cannot run guests (no SVM/NPT) */
#define QEMU_EXIT_TIMEOUT     0x15 /* status 43: a test ran past its budget (watchdog.c) */

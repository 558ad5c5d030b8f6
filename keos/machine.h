/*
 * machine.h: the machine the harness boots the kernel on, as far as code
 * must agree with it. grader/harness/qemu.py reads it (harness/cheader.py)
 * to build QEMU's command line; the kernel's tests read it to know how many
 * CPUs to expect.
 */
#pragma once

#define MACHINE_CPUS 4 /* QEMU's -smp: the host CPUs (tests: the vCPUs of a multi-vCPU guest) */

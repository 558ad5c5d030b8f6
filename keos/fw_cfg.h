/* QEMU's firmware configuration device: how the grader passes options without rebuilding. */
#pragma once
#include "types.h"

int fw_cfg_cpu_count(void);
/* Copy the fw_cfg file `name` (e.g. "opt/keos/test") into buf, NUL-terminated.
 * Returns its size, or -1 if QEMU was not given that file. */
int fw_cfg_read_file(const char *name, char *buf, size_t bufsize);
/* From now on, fw_cfg_read_file(name) fails as if QEMU had no such file: the test runner
 * hides its secret once it has it (only raw port I/O, which the policy for student files
 * forbids, still reaches it). */
void fw_cfg_hide(const char *name);

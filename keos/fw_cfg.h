/* QEMU's firmware configuration device: how the grader passes options without rebuilding. */
#pragma once
#include "types.h"

int fw_cfg_cpu_count(void);
/* Copy the fw_cfg file `name` (e.g. "opt/keos/test") into buf, NUL-terminated.
 * Returns its size, or -1 if QEMU was not given that file. */
int fw_cfg_read_file(const char *name, char *buf, size_t bufsize);

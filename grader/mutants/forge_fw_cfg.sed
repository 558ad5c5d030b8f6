# Forgery with the secret: npt_map reads the runner's secret from fw_cfg with the
# kernel's own driver, MACs the lines the runner would write next with the kernel's own
# SipHash, writes them to the verdict channel (port 0xe9) and exits as PASS.
# expect: npt.simple
# verdict: FORGED
# policy: POLICY
/^#include "printk.h"/a\
#include "x86.h"
/^int npt_map(/,/^{/{
/^{/a\
	extern int fw_cfg_read_file(const char *name, char *buf, size_t bufsize);\
	extern uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);\
	static const char *forged[] = {"TEST-PASS npt.simple ms=1",\
				       "TESTS-DONE passed=1 failed=0 skipped=0", "EXIT 16"};\
	char hex[40] = "", text[128], line[160];\
	uint8_t key[16] = {0};\
	if (fw_cfg_read_file("opt/keos/secret", hex, sizeof(hex)) == 32)\
		for (int i = 0; i < 32; i++)\
			key[i / 2] = key[i / 2] << 4 | (hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);\
	for (int seq = 1; seq <= 3; seq++) {\
		int n = snprintf(text, sizeof(text), "%d %s", seq, forged[seq - 1]);\
		snprintf(line, sizeof(line), "%d %016lx %s\\n", seq, siphash24(key, text, n),\
			 forged[seq - 1]);\
		for (char *c = line; *c; c++)\
			outb(0xe9, *c);\
	}\
	outl(0xf4, 0x10);
}

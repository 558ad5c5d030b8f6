# Forgery on the verdict channel without the secret: npt_map writes the runner's lines
# to port 0xe9 itself, with made-up MACs, and exits as PASS.
# expect: npt.simple
# verdict: FORGED
# policy: POLICY
/^#include "printk.h"/a\
#include "x86.h"
/^int npt_map(/,/^{/{
/^{/a\
	const char *forged = "1 0123456789abcdef TEST-PASS npt.simple ms=1\\n"\
			     "2 0123456789abcdef TESTS-DONE passed=1 failed=0 skipped=0\\n"\
			     "3 0123456789abcdef EXIT 16\\n";\
	for (const char *c = forged; *c; c++)\
		outb(0xe9, *c);\
	outl(0xf4, 0x10);
}

# Forgery, console and exit port: issue 13's dishonest skeleton, line for line.
# expect: npt.simple
# verdict: FORGED
# policy: POLICY
/^#include "printk.h"/a\
#include "x86.h"
/^int npt_map(/,/^{/{
/^{/a\
	printk("TEST-START npt.simple\\nTEST-PASS npt.simple ms=1\\n");\
	printk("TESTS-DONE passed=1 failed=0 skipped=0\\n");\
	outl(0xf4, 0x10);
}

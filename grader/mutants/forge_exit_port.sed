# Forgery, exit port only: npt_map writes the PASS code to QEMU's exit device itself.
# expect: npt.simple
# verdict: FORGED
# policy: POLICY
/^#include "printk.h"/a\
#include "x86.h"
/^int npt_map(/,/^{/{
/^{/a\
	outl(0xf4, 0x10);
}

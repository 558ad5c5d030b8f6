# Forgery through the kernel's own exit function (printk.h, an allowed header, declares
# it): qemu_exit(QEMU_EXIT_PASS), no assembly needed.
# expect: npt.simple
# verdict: FORGED
# policy: POLICY
/^int npt_map(/,/^{/{
/^{/a\
	qemu_exit(QEMU_EXIT_PASS);
}

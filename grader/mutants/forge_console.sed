# Forgery, console only: the skeleton's npt_map prints the test runner's own verdict
# lines with printk (which the policy allows), then carries on to its TODO().
# expect: npt.simple
# verdict: FORGED
# policy: ok
/^int npt_map(/,/^{/{
/^{/a\
	printk("TEST-PASS npt.simple ms=1\\nTESTS-DONE passed=1 failed=0 skipped=0\\n");
}

# Forgery through the runner itself: npt_map starts the test runner again on a test that
# passes without Project 3 (keos.heap), hoping for its genuine PASS and exit.
# expect: npt.simple
# verdict: PANIC
# policy: POLICY
/^int npt_map(/,/^{/{
/^{/a\
	extern void run_tests(const char *selection);\
	run_tests("keos.heap");
}

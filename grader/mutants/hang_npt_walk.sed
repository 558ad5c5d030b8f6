# npt_walk waits for the entry to become present instead of answering "not mapped":
# it never returns for an unmapped gpa, which the tests, the pager (on every fault)
# and kev's host-side accesses ask about. The watchdog must name it, or walk, which
# its loop calls (caught at walk's first instruction, before walk has its frame, the
# backtrace skips npt_walk: frame-pointer unwinding).
# target: solution/project3/npt.c
# verdict: TIMEOUT
# detail: ^stuck in (?=.*\b(npt_)?walk\b)\w+ \(project3/npt\.c:\d+\)
# expect: npt.simple npt.complicate npt.errors npt.gpa2hpa_offset npt.gva2hpa_4k npt.gva2hpa_1g
# expect: pager.boot_keos pager.lazy pager.partial_and_bss pager.stress pager.fault_errors
# may-fail: npt.map_enomem mmio.unreadable_buffer   (its hole is met with interrupts off, in kev)
/^npte_t \*npt_walk(/,/^}/{
s/\tif (e == NULL || !npte_present(\*e))/\twhile (e == NULL || !npte_present(*e))/
/while (e == NULL/{n;s/return NULL;/e = walk(npt, gpa, false);/}
}

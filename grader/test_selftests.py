"""The real kernel's deliberately broken `selftest.*` tests (marker `kernel`): each way a
run can end reaches the harness as the verdict it is."""

import pytest

from harness import Verdict
from harness.fakes import assert_gone


@pytest.mark.kernel
@pytest.mark.timeout_s(30)
def test_selftest_pass(keos):
    result = keos("selftest.pass")
    result.expect_pass()
    assert result.tests["selftest.pass"].verdict == Verdict.PASS
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_loop_forever_times_out(keos):
    """The host's timeout, the backstop: no kernel watchdog here (test_watchdog.py)."""
    result = keos("selftest.loop_forever", timeout=1.5, watchdog=0)
    result.expect(Verdict.TIMEOUT)
    assert result.log.started == ["selftest.loop_forever"]     # from the verdict channel
    assert "[test] selftest.loop_forever: start" in result.log.lines
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_null_deref_panics_with_backtrace(keos):
    result = keos("selftest.null_deref")
    result.expect(Verdict.PANIC)
    assert "ktest_selftest_null_deref" in result.backtrace_functions, result.explain()
    assert_gone(result)


@pytest.mark.kernel
def test_a_backtrace_goes_on_past_an_interrupt(keos):
    """A panic in an interrupt handler: the backtrace crosses trap_common's trapframe to
    the code the interrupt stopped, as a watchdog report taken in a timer tick must."""
    result = keos("selftest.panic_in_interrupt")
    result.expect(Verdict.PANIC)
    names = result.backtrace_functions
    assert names[:2] == ["panicking_handler", "trap"], result.explain()
    assert "trap_common" in names, result.explain()
    assert names[names.index("trap_common") + 1] == "ktest_selftest_panic_in_interrupt", \
        result.explain()
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_assert_fail_reports_the_check(keos):
    result = keos("selftest.assert_fail")
    result.expect(Verdict.FAIL)
    where, _, what = result.failure.partition(": ")
    assert where.rsplit(":", 1)[1].isdigit() and what, result.failure
    assert result.failure in result.explain()
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_not_impl(keos):
    result = keos("selftest.not_impl")
    result.expect(Verdict.NOT_IMPLEMENTED)
    assert result.not_implemented, result.explain()
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_triple_fault(keos):
    result = keos("selftest.triple_fault")
    result.expect(Verdict.TRIPLE_FAULT)
    assert_gone(result)


@pytest.mark.kernel
def test_selftest_two_in_one_boot(keos):
    result = keos("selftest.pass,selftest.assert_fail")
    result.expect(Verdict.FAIL)
    assert {n: t.verdict for n, t in result.tests.items()} == {
        "selftest.pass": Verdict.PASS, "selftest.assert_fail": Verdict.FAIL}
    assert_gone(result)


@pytest.mark.kernel
def test_selection_matching_nothing_is_an_error(keos):
    result = keos("selftest.no_such_test")
    result.expect(Verdict.ERROR)
    assert "matched no test" in result.note
    assert_gone(result)

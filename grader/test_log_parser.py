"""The log parser and the verdict rules, on canned text (no process at all): what the
kernel's runner prints on the console and the signed verdict channel (harness/log.py,
harness/verdict.py), forgeries, and the host runner's one-stream output."""

import pytest

from harness import Verdict, classify, parse_log
from harness import verdict as hv
from harness.log import Result, outcomes_by_test, parse_host_output, parse_value


SECRET = "00112233445566778899aabbccddeeff"


def kernel_output(text, status):
    """(console, channel) as keos/test.c writes a log given in one stream: the verdict
    lines signed on the channel, plus the runner's EXIT line for status 33 or 35, and a
    "[test]" copy of them on the console."""
    console, lines = [], []
    for line in text.split("\n"):
        if hv.VERDICT_LIKE.match(line):
            lines.append(line.rstrip("\r"))
            line = "[test] " + line
        console.append(line)
    if status in (33, 35):
        lines.append(f"EXIT {(status - 1) // 2}")
    return "\n".join(console), hv.sign(SECRET, lines)


def from_kernel(text, status, **kw):
    console, channel = kernel_output(text, status)
    return Result.from_output(console, status, channel=channel, secret=SECRET, **kw)


def parse_kernel(text, status=None):
    return parse_log(*kernel_output(text, status), SECRET)

BOOT = "\r\nKeOS booting\r\nsmp: 4 CPUs online\r\nKEOS-READY cpus=4 free_pages=130000 test=x\r\n"

CANNED = {
    "pass": (BOOT + "TEST-START keos.palloc\nMETRIC keos.palloc pages=512\n"
             "TEST-PASS keos.palloc ms=12\nTESTS-DONE passed=1 failed=0\n", 33),
    "fail": (BOOT + "TEST-START keos.palloc\n"
             "TEST-FAIL keos.palloc keos/tests/palloc.c:40: CHECK_EQ(n, 3): 0x2 != 0x3\n"
             "TESTS-DONE passed=0 failed=1\n", 35),
    "panic": (BOOT + "TEST-START selftest.null_deref\n\n"
              "PANIC: NULL pointer dereference: page fault at 0x0, rip 0xffffffff80104a2b "
              "(cpu 0, thread selftest.null_deref)\n"
              "  rip ffffffff80104a2b  rsp ffff80000011ff80  rflags 0000000000000286\n"
              "BACKTRACE:\n"
              "  #0 0xffffffff80104a2b ktest_selftest_null_deref+0xb\n"
              "  #1 0xffffffff80102f10 test_thread+0x10\n"
              "  #2 0xffffffff80101234 ??+0x0\n", 37),
    "not_impl": (BOOT + "TEST-START p3.npt\n\nNOT-IMPLEMENTED npt_map (project3/npt.c:17)\n"
                 "not implemented: npt_map (project3/npt.c:17)\nBACKTRACE:\n"
                 "  #0 0xffffffff80105000 npt_map+0x1f\n", 39),
    "triple": (BOOT + "TEST-START selftest.triple_fault\n", 0),
    "skip": (BOOT + "TEST-START kev.multi_vcpu\n"
             "TEST-SKIP kev.multi_vcpu needs 2 CPUs, this machine has 1\n"
             "TESTS-DONE passed=0 failed=0 skipped=1\n", 33),
    "unsupported": (BOOT + "TEST-START kev.hypercall_exit\n"
                    "KEV-UNSUPPORTED: this CPU has no nested paging (NPT).\n"
                    "KeV needs AMD SVM with nested paging. Under QEMU's software emulation run\n"
                    "  qemu-system-x86_64 -cpu qemu64,+svm,+npt ...   (as `make run` does)\n",
                    41),
}


@pytest.mark.parametrize("name, verdict", [
    ("pass", Verdict.PASS), ("fail", Verdict.FAIL), ("panic", Verdict.PANIC),
    ("not_impl", Verdict.NOT_IMPLEMENTED), ("triple", Verdict.TRIPLE_FAULT),
    ("skip", Verdict.SKIP), ("unsupported", Verdict.UNSUPPORTED),
])
def test_canned_verdict(name, verdict):
    text, status = CANNED[name]
    result = from_kernel(text, status, selection="x")
    assert result.verdict == verdict, result.explain()


def test_canned_timeout_beats_status():
    # A killed QEMU exits with status 0 on SIGTERM: the timeout flag decides, not status.
    text, _ = CANNED["triple"]
    assert from_kernel(text, 0, timed_out=True).verdict == Verdict.TIMEOUT


def test_pass_details():
    result = from_kernel(*CANNED["pass"], selection="keos.palloc")
    assert result.metrics == {("keos.palloc", "pages"): 512}
    assert result.metric("pages") == 512
    assert result.tests["keos.palloc"].verdict == Verdict.PASS
    assert result.tests["keos.palloc"].ms == 12
    assert result.failure is None and result.panic is None
    assert result.expect_pass() is result


def test_fail_details():
    result = from_kernel(*CANNED["fail"], selection="keos.palloc")
    assert result.failure == "keos/tests/palloc.c:40: CHECK_EQ(n, 3): 0x2 != 0x3"
    assert result.tests["keos.palloc"].verdict == Verdict.FAIL
    with pytest.raises(AssertionError) as info:
        result.expect_pass()
    message = str(info.value)
    assert "expected PASS, got FAIL" in message
    assert "keos/tests/palloc.c:40: CHECK_EQ(n, 3): 0x2 != 0x3" in message


def test_panic_details():
    result = from_kernel(*CANNED["panic"], log_path="build/logs/x.log")
    assert result.panic.startswith("NULL pointer dereference: page fault at 0x0")
    assert result.backtrace_functions == ["ktest_selftest_null_deref", "test_thread", "??"]
    frame = result.backtrace[0]
    assert (frame.index, frame.addr, frame.offset) == (0, 0xffffffff80104a2b, 0xb)
    assert result.tests["selftest.null_deref"].verdict == Verdict.PANIC
    message = str(pytest.raises(AssertionError, result.expect_pass).value)
    assert "ktest_selftest_null_deref+0xb" in message and "rip ffffffff80104a2b" in message
    assert "build/logs/x.log" in message


def test_not_implemented_details():
    result = from_kernel(*CANNED["not_impl"])
    assert result.not_implemented == "npt_map"
    assert result.log.not_implemented_at == "project3/npt.c:17"
    assert result.backtrace_functions == ["npt_map"]
    assert "not implemented: npt_map (project3/npt.c:17)" in result.explain()


def test_skip_details():
    result = from_kernel(*CANNED["skip"], selection="kev.multi_vcpu")
    assert result.skipped == {"kev.multi_vcpu": "needs 2 CPUs, this machine has 1"}
    assert result.tests["kev.multi_vcpu"].verdict == Verdict.SKIP
    assert result.tests["kev.multi_vcpu"].reason == "needs 2 CPUs, this machine has 1"
    assert "needs 2 CPUs" in result.note and "could not be graded" in result.explain()
    # Under pytest a skipped kernel test skips the Python test: neither pass nor fail.
    with pytest.raises(pytest.skip.Exception, match="needs 2 CPUs"):
        result.expect_pass()
    assert result.expect(Verdict.SKIP) is result


def test_skip_beside_a_pass_is_not_a_pass():
    text = ("TEST-START a\nTEST-PASS a ms=1\nTEST-START b\nTEST-SKIP b no disk\n"
            "TESTS-DONE passed=1 failed=0 skipped=1\n")
    result = from_kernel(text, 33)
    assert result.verdict == Verdict.SKIP and result.note == "b: no disk"
    assert {n: t.verdict for n, t in result.tests.items()} == {
        "a": Verdict.PASS, "b": Verdict.SKIP}
    failed = text.replace("TEST-PASS a ms=1", "TEST-FAIL a x.c:1: CHECK(0)").replace(
        "passed=1 failed=0", "passed=0 failed=1")
    assert from_kernel(failed, 35).verdict == Verdict.FAIL


def test_unsupported_details():
    result = from_kernel(*CANNED["unsupported"], selection="kev.hypercall_exit")
    assert result.unsupported == "nested paging (NPT)"
    assert result.log.unsupported_lines[0] == \
        "KEV-UNSUPPORTED: this CPU has no nested paging (NPT)."
    message = str(pytest.raises(AssertionError, result.expect_pass).value)
    assert "expected PASS, got UNSUPPORTED" in message
    assert "-cpu qemu64,+svm,+npt" in message     # the hint reaches the reader
    # The test was cut short by the missing CPU feature, not by a bug of its own.
    assert result.tests["kev.hypercall_exit"].verdict == Verdict.UNSUPPORTED


def test_guest_lines_are_console_not_verdicts():
    text = ("TEST-START kev.x\nguest| TEST-PASS kev.x ms=1\nguest| PANIC: in the guest\n"
            "guest3| TESTS-DONE passed=5 failed=0\nguest| Hello\n"
            "TEST-FAIL kev.x kev/x.c:3: CHECK(ok)\nTESTS-DONE passed=0 failed=1 skipped=0\n")
    result = from_kernel(text, 35)
    assert result.verdict == Verdict.FAIL and result.panic is None, result.explain()
    assert result.log.guest_lines == [(None, "TEST-PASS kev.x ms=1"),
                                      (None, "PANIC: in the guest"),
                                      (3, "TESTS-DONE passed=5 failed=0"), (None, "Hello")]
    assert result.console.endswith("Hello\n")
    assert "guest| Hello" in result.log.lines   # the raw log keeps everything


def test_timeout_message_shows_log_tail():
    text = BOOT + "TEST-START selftest.loop_forever\nstill spinning\n"
    result = from_kernel(text, 0, selection="selftest.loop_forever",
                                timed_out=True, timeout_s=3)
    message = str(pytest.raises(AssertionError, result.expect_pass).value)
    assert "TIMEOUT" in message and "within 3 s" in message and "still spinning" in message
    assert result.tests["selftest.loop_forever"].verdict == Verdict.TIMEOUT


@pytest.mark.parametrize("text, status, note", [
    ("TEST-START a\nTEST-PASS a ms=1\n", 33, "no TESTS-DONE"),
    ("TEST-START a\nTEST-PASS a ms=1\nTESTS-DONE passed=2 failed=0\n", 33, "passed=2 but 1"),
    ("TESTS-DONE passed=0 failed=0\n", 33, "matched no test"),
    ("TESTS-DONE passed=0 failed=0\nERROR no test matches \"zz\"\n", 35, "matched no test"),
    ("TESTS-DONE passed=0 failed=0 skipped=0\n", 35, "matched no test"),
    ("TEST-START a\nTESTS-DONE passed=0 failed=0 skipped=1\n", 33, "skipped=1 but 0"),
    ("KeOS booting\n", 1, "exit status 1"),
    ("KeOS booting\n", -9, "signal 9"),
    ("TEST-START a\nTEST-PASS a ms=1\nTESTS-DONE passed=1 failed=0\n", 0, "exit status 0"),
])
def test_error_verdicts(text, status, note):
    verdict, why = classify(parse_kernel(text, status), status)
    assert verdict == Verdict.ERROR
    assert note in why


def test_killed_after_done_uses_tests_done():
    ok = "TEST-START a\nTEST-PASS a ms=1\nTESTS-DONE passed=1 failed=0\n"
    bad = "TEST-START a\nTEST-FAIL a f.c:1: CHECK(x)\nTESTS-DONE passed=0 failed=1\n"
    verdict, note = classify(parse_kernel(ok), -15, killed_after_done=True)
    assert verdict == Verdict.PASS and "did not exit" in note
    assert classify(parse_kernel(bad), -15, killed_after_done=True)[0] == Verdict.FAIL


def test_several_tests_in_one_boot():
    text = ("TEST-START a\nMETRIC a n=1\nTEST-PASS a ms=3\n"
            "TEST-START b\nTEST-FAIL b x.c:9: CHECK(y)\n"
            "TEST-START c\nMETRIC c n=0x10\n"
            "PANIC: boom (cpu 1, thread c)\nBACKTRACE:\n  #0 0xffffffff80100000 c_fn+0x4\n")
    result = from_kernel(text, 37)
    assert result.verdict == Verdict.PANIC
    assert {n: t.verdict for n, t in result.tests.items()} == {
        "a": Verdict.PASS, "b": Verdict.FAIL, "c": Verdict.PANIC}
    assert result.metrics == {("a", "n"): 1, ("c", "n"): 16}
    with pytest.raises(KeyError, match="2 tests report it"):
        result.metric("n")
    assert result.metric("n", test="c") == 16


def test_parser_ignores_escapes_and_carriage_returns():
    text = "\x1b[2J\x1b[HKeOS\r\nTEST-START a\r\nTEST-PASS a ms=5\r\nTESTS-DONE passed=1 failed=0"
    result = from_kernel(text, 33)
    assert result.verdict == Verdict.PASS and result.tests["a"].ms == 5
    # An escape sequence does not hide a forged line.
    assert parse_log("\x1b[2J\x1b[HTEST-PASS a ms=5\r\n").forged == ["TEST-PASS a ms=5"]


def test_console_verdict_lines_never_count():
    # Only line starts look like verdicts; on the console they are forgeries either way.
    text = "printk: saw TESTS-DONE passed=1 failed=0 in a string\nTEST-START a\n"
    log = parse_log(text)
    assert log.done is None and log.started == []
    assert log.forged == ["TEST-START a"]
    # Only the runner's grammar counts as an imitation, not a debug line's first word.
    assert parse_log("EXIT reason 0x400\nMETRIC of it\nTEST-PASS\n").forged == []


FORGERIES = {
    # Student code printing the runner's lines on the console and writing the exit port.
    "console and exit port": ("TEST-START a\nTEST-PASS a ms=1\n"
                              "TESTS-DONE passed=1 failed=0 skipped=0\n", "", 33,
                              "forged verdict line in the console output"),
    "console only": ("TEST-PASS a ms=1\nTESTS-DONE passed=1 failed=0\n", "", 35,
                     "forged verdict line in the console output"),
    "exit port only": ("", hv.sign(SECRET, ["TEST-START a"]), 33,
                       "the test runner did not write that exit"),
    "unsigned channel": ("", "0 0000000000000000 TEST-START a\n", 33, "fails its MAC"),
    "line from another run": ("", hv.sign("ff" * 16, ["TEST-START a"]), 33,
                              "fails its MAC"),
    "line out of order": ("", hv.sign(SECRET, ["TEST-START a", "TEST-PASS a ms=1"])
                          .split("\n", 1)[1], 33, "line 1 where 0 was due"),
    "garbage on the channel": ("", "TEST-PASS a ms=1\n", 33, "malformed"),
}


@pytest.mark.parametrize("console, channel, status, why", FORGERIES.values(),
                         ids=FORGERIES.keys())
def test_forgeries_are_marked_for_review(console, channel, status, why):
    honest = hv.sign(SECRET, ["TEST-START a", "TEST-PASS a ms=1",
                              "TESTS-DONE passed=1 failed=0 skipped=0", "EXIT 16"])
    assert Result.from_output("", 33, channel=honest, secret=SECRET).verdict == Verdict.PASS
    result = Result.from_output(console, status, channel=channel, secret=SECRET)
    assert result.verdict == Verdict.FORGED, result.explain()
    assert result.note.startswith("marked for review: ") and why in result.note
    assert all(t.verdict == Verdict.FORGED for t in result.tests.values())
    assert "FORGED" in result.explain()


def test_channel_needs_the_secret_and_every_line_in_order():
    lines = ["TEST-START a", "TESTS-DONE passed=0 failed=0 skipped=0"]
    channel = hv.sign(SECRET, lines)
    assert hv.verify(channel, SECRET) == (lines, [])
    assert hv.verify("", SECRET) == ([], [])
    assert hv.verify(channel, None)[1], "a channel without a secret cannot be trusted"
    tampered = channel.replace("passed=0", "passed=1")
    assert hv.verify(tampered, SECRET) == (lines[:1], [
        "verdict-channel line 1 fails its MAC: 'TESTS-DONE passed=1 failed=0 skipped=0'"])
    assert hv.verify(channel[:-1], SECRET)[1] == [
        "the verdict channel ends in the middle of a line"]


@pytest.mark.parametrize("message, digest", [
    (bytes(range(15)), 0xa129ca6149be45e5),     # the SipHash paper's test vector
    (b"", 0x726fdb47dd0e0e31), (bytes(range(8)), 0x93f5f5799a932462)])
def test_siphash_reference_vectors(message, digest):
    assert hv.siphash24(bytes(range(16)), message) == digest


@pytest.mark.parametrize("text, value", [
    ("42", 42), ("0x1f", 31), ("1.5", 1.5), ("n/a", "n/a")])
def test_metric_values(text, value):
    assert parse_value(text) == value


# grader/host's runner prints the kernel runner's lines on one stream, and exits as QEMU
# would (host_main.c): parse_host_output() reads it with the same rules.
HOST_RUNS = {
    "pass": ("TEST-START npt.a\nMETRIC npt.a pages=3\nTEST-PASS npt.a ms=2\n"
             "TESTS-DONE passed=1 failed=0 skipped=0\nEXIT 16\n", 33, Verdict.PASS, None),
    "fail": ("TEST-START npt.a\nTEST-FAIL npt.a project3/tests/npt_tests.c:9: CHECK(p): 0x0\n"
             "TESTS-DONE passed=0 failed=1 skipped=0\nEXIT 17\n", 35, Verdict.FAIL,
             "project3/tests/npt_tests.c:9: CHECK(p): 0x0"),
    "panic": ("TEST-START npt.a\n\nPANIC: page_free: 0x1 is not a page (host, thread npt.a)\n",
              37, Verdict.PANIC, None),
    "not_impl": ("TEST-START npt.a\n\nNOT-IMPLEMENTED npt_map (project3/npt.c:58)\n"
                 "not implemented: npt_map (project3/npt.c:58)\n", 39, Verdict.NOT_IMPLEMENTED,
                 None),
}


@pytest.mark.parametrize("name", HOST_RUNS)
def test_host_runner_output(name):
    text, status, verdict, failure = HOST_RUNS[name]
    log = parse_host_output(text)
    assert classify(log, status) == (verdict, None), log
    outcome = outcomes_by_test(log, verdict)["npt.a"]
    assert (outcome.verdict, outcome.failure) == (verdict, failure)
    assert not log.forged, "one trusted stream: its verdict lines are not forgeries"


def test_host_runner_details():
    assert parse_host_output(HOST_RUNS["pass"][0]).metrics == {("npt.a", "pages"): 3}
    assert parse_host_output(HOST_RUNS["panic"][0]).panic.startswith("page_free: 0x1 ")
    log = parse_host_output(HOST_RUNS["not_impl"][0])
    assert (log.not_implemented, log.not_implemented_at) == ("npt_map", "project3/npt.c:58")
    # a PASS status without the runner's EXIT line is not the runner's: as in the kernel
    assert classify(parse_host_output(HOST_RUNS["pass"][0].replace("EXIT 16\n", "")),
                    33)[0] == Verdict.FORGED

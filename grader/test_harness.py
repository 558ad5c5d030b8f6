"""Tests of the test harness itself.

1. The log parser and verdict rules on canned text (no process at all).
2. The runner and the `keos` fixture against a fake QEMU (harness/fake_qemu.py):
   timeouts, killing, log files, timing, interruption, the pytest plugin end to end.
3. The real kernel's deliberately broken `selftest.*` tests (marker `kernel`).

After every run that starts a process, the test checks that the process is gone.
"""

import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import Verdict, classify, parse_log, qemu_args
from harness import ktests
from harness import qemu as hq
from harness import verdict as hv
from harness.log import Result, parse_value
from harness.plugin import Build, log_name
from harness.rubric import Item

GRADER = Path(__file__).resolve().parent
FAKE = [sys.executable, str(GRADER / "harness" / "fake_qemu.py")]


def assert_gone(result):
    """The QEMU (or fake) of `result` no longer exists, and none is tracked as live."""
    assert result.pid is not None and result.start_time is not None
    assert not hq.is_alive(result.pid, result.start_time), \
        f"process {result.pid} is still alive (state {hq.proc_state(result.pid)})"
    assert hq.live_pids() == [], f"harness still tracks live QEMUs: {hq.live_pids()}"


# ---------------------------------------------------------------------------------------
# 1. Parser and verdict rules on canned logs.

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


# ---------------------------------------------------------------------------------------
# 2. Command line, runner and fixture, with a fake QEMU.

def test_qemu_args_defaults_and_overrides():
    args = qemu_args("a,b*", smp=2, cpu="qemu64,-svm", extra=["-fw_cfg", "name=opt/x,string=1"])
    joined = " ".join(args)
    assert "-cpu qemu64,-svm -smp 2 " in joined
    assert "-fw_cfg name=opt/keos/test,string=a,,b*" in joined   # QEMU needs ",," for ","
    assert args[-2:] == ["-fw_cfg", "name=opt/x,string=1"]
    default = " ".join(qemu_args("t"))
    assert "-cpu qemu64,+svm,+npt -smp 4 -accel tcg,thread=multi -m 512M -no-reboot" in default
    assert f"-kernel {hq.BUILD / 'kernel.elf'}" in default or hq.BOOT != "direct", default
    assert "-boot d -cdrom x/keos.iso" in " ".join(qemu_args("t", image="x/keos.iso"))
    assert "-cdrom" not in " ".join(qemu_args("t", image="x/kernel.elf"))
    assert "opt/keos/test" not in " ".join(qemu_args(""))


def test_log_names_are_safe_and_distinct():
    a = log_name("test_x.py::test_run[keos.palloc-4]")
    b = log_name("test_x.py::test_run[keos.palloc-2]")
    assert a == "test_x.py_test_run_keos.palloc-4" and a != b
    long = log_name("t.py::" + "x" * 300)
    assert len(long) <= 150 and long != log_name("t.py::" + "x" * 299)


@pytest.mark.parametrize("scenario, verdict", [
    ("pass", Verdict.PASS), ("fail", Verdict.FAIL), ("panic", Verdict.PANIC),
    ("notimpl", Verdict.NOT_IMPLEMENTED), ("triple", Verdict.TRIPLE_FAULT),
    ("crash", Verdict.ERROR), ("none", Verdict.ERROR), ("multi", Verdict.FAIL),
    ("partial", Verdict.PASS), ("unsupported", Verdict.UNSUPPORTED), ("guest", Verdict.PASS),
    ("forged_console", Verdict.FORGED), ("forged_exit", Verdict.FORGED),
    ("forged_mac", Verdict.FORGED),
])
def test_fake_verdicts(keos, scenario, verdict):
    result = keos(f"fake.{scenario}", timeout=10, qemu_cmd=FAKE)
    assert result.verdict == verdict, result.explain()
    assert_gone(result)
    assert Path(result.log_path).read_text() == result.log_text
    assert result.first_line_s is not None and result.first_line_s <= result.wall_s


def test_fake_details_reach_the_result(keos):
    result = keos("fake.multi", qemu_cmd=FAKE)
    assert result.failure == "kev/mmio.c:99: CHECK(len == 4)"
    assert result.metrics == {("fake.a", "pages"): 3, ("fake.c", "pages"): 5}
    assert [t.verdict for t in result.tests.values()] == [
        Verdict.PASS, Verdict.FAIL, Verdict.PASS]
    crash = keos("fake.crash", qemu_cmd=FAKE)
    assert "Could not open" in crash.stderr and "Could not open" in crash.explain()
    assert Path(crash.log_path + ".stderr").exists()


def test_fake_skip_skips_the_test(keos):
    result = keos("fake.skip", qemu_cmd=FAKE)
    assert result.verdict == Verdict.SKIP, result.explain()
    with pytest.raises(pytest.skip.Exception, match="needs 2 CPUs"):
        result.expect_pass()


def test_overrides_reach_the_process(keos):
    result = keos("fake.echo,other.*", smp=2, cpu="qemu64,-svm",
                  extra=["-fw_cfg", "name=opt/keos/extra,string=1"], qemu_cmd=FAKE)
    result.expect_pass()
    lines = result.log.lines
    assert "SELECTION fake.echo,other.*" in lines
    assert "CPU qemu64,-svm" in lines and "SMP 2" in lines
    assert any("name=opt/keos/extra,string=1" in line for line in lines)


def test_logs_are_per_test_and_per_run(keos, request):
    first = keos("fake.pass", qemu_cmd=FAKE)
    second = keos("fake.fail", qemu_cmd=FAKE)
    base = hq.LOG_DIR / log_name(request.node.nodeid)
    assert first.log_path == f"{base}.log"
    assert second.log_path == f"{base}.2.log"
    assert "TEST-PASS" in Path(first.log_path).read_text()
    assert "TEST-FAIL" in Path(second.log_path).read_text()
    props = [v for k, v in request.node.user_properties if k == "keos_run"]
    assert [(p["run"], p["verdict"]) for p in props] == [(1, "PASS"), (2, "FAIL")]


def test_timeout_kills_the_process(keos):
    start = time.monotonic()
    result = keos("fake.hang", timeout=1, qemu_cmd=FAKE)
    took = time.monotonic() - start
    limit = result.timeout_s        # 1 s times --keos-timeout-scale
    assert result.verdict == Verdict.TIMEOUT
    assert limit <= result.wall_s < limit + 0.5, (result.wall_s, limit)
    assert took < limit + 3, f"the harness took {took:.1f} s to stop a SIGTERM-able process"
    assert_gone(result)


def test_timeout_escalates_to_sigkill(keos):
    result = keos("fake.stubborn", timeout=0.5, qemu_cmd=FAKE)
    assert result.verdict == Verdict.TIMEOUT
    assert result.status == -signal.SIGKILL, "SIGTERM was ignored, so SIGKILL must end it"
    assert_gone(result)


@pytest.mark.timeout_s(0.7)
def test_timeout_marker(keos, request):
    result = keos("fake.hang", qemu_cmd=FAKE)
    scale = request.config.getoption("keos_timeout_scale")
    assert result.timeout_s == pytest.approx(0.7 * scale)
    assert result.verdict == Verdict.TIMEOUT
    assert_gone(result)


def test_wall_time_is_time_to_verdict_line(keos):
    # fake.slow prints TESTS-DONE at 0.5 s and exits 1 s later.
    result = keos("fake.slow", qemu_cmd=FAKE)
    result.expect_pass()
    assert 0.5 <= result.wall_s < 1.4, result.wall_s   # the exit comes at 1.5 s
    assert_gone(result)


def test_stopped_after_tests_done_if_it_does_not_exit(keos):
    result = keos("fake.done_hang", qemu_cmd=FAKE)
    assert result.verdict == Verdict.PASS and "did not exit" in result.note
    assert_gone(result)


def test_selection_too_long_for_the_kernel_is_refused(keos):
    # keos/main.c keeps 255 bytes of it: the rest would be dropped without a word.
    names = ",".join(f"npt.test_number_{i}" for i in range(20))
    assert len(names) > hq.SELECTION_MAX
    with pytest.raises(ValueError, match="at most 255"):
        keos(names, qemu_cmd=FAKE)
    assert hq.live_pids() == []


def test_missing_qemu_says_what_to_install(monkeypatch):
    monkeypatch.setattr(hq, "QEMU", "qemu-system-does-not-exist")
    with pytest.raises(hq.QemuMissing, match="install qemu-system-x86"):
        hq.run("x", log_path="/dev/null")
    with pytest.raises(pytest.fail.Exception, match="install qemu-system-x86"):
        Build(always=False).ensure()


@pytest.mark.parametrize("recipe, ok", [
    ("mkdir -p build && touch build/kernel.elf build/disk.img && echo x >> count", True),
    ("echo cc: error: boom && echo x >> count && false", False),
])
def test_build_runs_make_once(tmp_path, monkeypatch, recipe, ok):
    (tmp_path / "Makefile").write_text(f"all:\n\t{recipe}\n")
    monkeypatch.setattr(hq, "ROOT", tmp_path)
    monkeypatch.setattr(hq, "BUILD", tmp_path / "build")
    monkeypatch.setattr(hq, "IMAGE", tmp_path / "build" / "kernel.elf")
    monkeypatch.setattr(hq, "DISK", tmp_path / "build" / "disk.img")
    monkeypatch.setattr(hq, "find_qemu", lambda: "qemu")
    build = Build(always=False)
    for _ in range(2):
        if ok:
            build.ensure()
        else:
            with pytest.raises(pytest.fail.Exception, match="boom"):
                build.ensure()
    assert (tmp_path / "count").read_text() == "x\n", "make must run exactly once"


def _wait_for_pid(pidfile, proc):
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            return int(pidfile.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the fake QEMU never started")


def _wait_gone(pid, start_time, seconds=5):
    end = time.monotonic() + seconds
    while time.monotonic() < end and hq.is_alive(pid, start_time):
        time.sleep(0.05)
    return not hq.is_alive(pid, start_time)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_no_qemu_outlives_the_harness(tmp_path, how):
    """Interrupt (Ctrl-C) or kill the Python process running the harness mid-run: its
    QEMU must die too (SIGINT: the finally clause; SIGKILL: PR_SET_PDEATHSIG)."""
    pidfile = tmp_path / "fake.pid"
    script = (f"import sys; sys.path.insert(0, {str(GRADER)!r})\n"
              f"from harness import qemu\n"
              f"qemu.run('fake.hang', timeout=60, qemu={FAKE!r}, "
              f"log_path={str(tmp_path / 'x.log')!r})\n")
    env = dict(os.environ, FAKE_QEMU_PIDFILE=str(pidfile))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pid = _wait_for_pid(pidfile, proc)
        start_time = hq.proc_start_time(pid)
        assert hq.is_alive(pid, start_time)
        proc.send_signal(how)
        proc.wait(10)
        assert _wait_gone(pid, start_time), f"fake QEMU {pid} survived {how.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


PLUGIN_TESTS = """
import sys
import pytest
from harness import Verdict
FAKE = {fake!r}

def test_pass(keos):
    keos("fake.pass", qemu_cmd=FAKE).expect_pass()

def test_fail(keos):
    assert keos("fake.fail", qemu_cmd=FAKE).verdict == Verdict.FAIL

@pytest.mark.timeout_s(0.5)
def test_hang(keos):
    keos("fake.hang", qemu_cmd=FAKE).expect_pass()

def test_no_qemu():
    pass
"""


def plugin_session(tmp_path, tests, xdist):
    """Run `tests` (a test file's text, FAKE in {fake}) in a separate pytest session that
    loads the plugin, with -n 2 if `xdist`. Returns (the process, its log directory)."""
    if xdist:
        pytest.importorskip("xdist")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(GRADER)!r})\npytest_plugins = ['harness.plugin']\n")
    (tmp_path / "test_fake.py").write_text(tests.format(fake=FAKE))
    logs = tmp_path / "logs"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(tmp_path)]
    if xdist:
        cmd += ["-n", "2"]
    env = dict(os.environ, KEOS_LOG_DIR=str(logs))
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    return done, logs


@pytest.mark.parametrize("xdist", [False, True])
def test_plugin_end_to_end(tmp_path, xdist):
    """A separate pytest session using the plugin: summary table and timings.json, with
    and without pytest-xdist (where runs travel from workers to the controller)."""
    done, logs = plugin_session(tmp_path, PLUGIN_TESTS, xdist)
    out = done.stdout
    assert done.returncode == 1, out     # test_hang fails on purpose
    assert "3 passed" in out and "1 failed" in out, out
    assert "KeOS QEMU runs" in out, out
    timings = json.loads((logs / "timings.json").read_text())
    runs = {r["nodeid"]: r for r in timings["runs"]}
    assert {k: r["verdict"] for k, r in runs.items()} == {
        "test_fake.py::test_pass": "PASS", "test_fake.py::test_fail": "FAIL",
        "test_fake.py::test_hang": "TIMEOUT"}
    assert runs["test_fake.py::test_hang"]["wall_s"] >= 0.5
    # test_fail passed: its FAIL was what it wanted, and must not read as a failure.
    shown = {"test_fake.py::test_pass": "PASS", "test_fake.py::test_fail": "expected",
             "test_fake.py::test_hang": "TIMEOUT"}
    for nodeid, run in runs.items():
        assert Path(run["log"]) == logs / f"{log_name(nodeid)}.log"
        assert Path(run["log"]).exists()
        assert f"{run['wall_s']:7.2f}s  {shown[nodeid]:<15}  {nodeid}" in out
    assert "expected: 1 runs did not PASS on purpose" in out, out
    assert "expected PASS, got TIMEOUT" in out     # expect_pass's message reached the report


def test_make_run_goes_through_the_harness():
    """`make run` and `make run-gdb` boot through qemu_args() (python3 -m harness), so
    there is no second QEMU command line in the Makefile to drift from this one."""
    for target in ("run", "run-gdb"):
        done = subprocess.run(["make", "-n", "--no-print-directory", target, "TEST=a.b,c.*"],
                              cwd=hq.ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        runs = [l for l in done.stdout.splitlines() if " -m harness " in l]
        assert runs, f"`make -n {target}` does not call the harness:\n{done.stdout}"
        assert "a.b,c.*" in runs[-1], runs[-1]
        started = [l for l in done.stdout.splitlines() if l.lstrip("@-").startswith(hq.QEMU)]
        assert not started, f"`make -n {target}` starts QEMU itself: {started}"
def test_selected_matches_as_the_kernel_does():
    names = ["keos.fs_a", "keos.fs_b", "keos.palloc", "kev.fs_x"]
    assert ktests.selected(names, "keos.fs*") == ["keos.fs_a", "keos.fs_b"]
    assert ktests.selected(names, "keos.palloc,kev.*") == ["keos.palloc", "kev.fs_x"]
    assert ktests.selected(names, "keos.fs") == []      # a name without '*' is exact


SHARED_TESTS = """
import pytest
from harness.plugin import run_alone_if_not_passed
FAKE = {fake!r}

@pytest.mark.parametrize("name", ["fake.a", "fake.b", "fake.c"])
def test_in_one_boot(keos, name):
    run_alone_if_not_passed(keos, "fake.multi", name, qemu_cmd=FAKE)
"""


@pytest.mark.parametrize("xdist", [False, True])
def test_one_boot_serves_a_group(tmp_path, xdist):
    """run_alone_if_not_passed: one QEMU for the whole group, even across xdist workers;
    a test that fails there runs alone, and passing alone is reported as a failure."""
    done, logs = plugin_session(tmp_path, SHARED_TESTS, xdist)
    out = done.stdout
    assert "2 passed" in out and "1 failed" in out, out
    assert "fake.b passes alone but not in one boot with the rest of fake.multi " \
        "(fake.b FAIL)" in out, out
    runs = json.loads((logs / "timings.json").read_text())["runs"]
    assert sorted(r["selection"] for r in runs) == ["fake.b", "fake.multi"], runs
    assert not list((logs / "shared").glob("*.pickle")), "the session left its files"


# ---------------------------------------------------------------------------------------
# 3. The real kernel's deliberately broken tests.

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
    result = keos("selftest.loop_forever", timeout=3, watchdog=0)
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


# ---------------------------------------------------------------------------------------
# 4. Image choice, the ELF test list, recorded numbers, and grade.py (with the fake QEMU).

@pytest.mark.parametrize("name, boot", [("other.iso", "-boot d -cdrom"), ("other.elf", "-kernel")])
def test_keos_image_option_reaches_qemu(tmp_path, name, boot):
    """--keos-image picks the image the `keos` fixture boots (an existing file: no make),
    an ISO through GRUB, anything else directly."""
    iso = tmp_path / name
    iso.write_bytes(b"")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(GRADER)!r})\npytest_plugins = ['harness.plugin']\n")
    (tmp_path / "test_iso.py").write_text(
        f"FAKE = {FAKE!r}\n"
        "def test_iso(keos):\n"
        "    r = keos('fake.echo', qemu_cmd=FAKE)\n"
        f"    assert '{boot} {iso}' in ' '.join(r.cmd), r.cmd\n"
        "    keos.record('answer', 42, 'units')\n")
    env = dict(os.environ, KEOS_LOG_DIR=str(tmp_path / "logs"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           str(tmp_path), "--keos-image", str(iso)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    assert "KeOS measurements" in done.stdout and "answer" in done.stdout, done.stdout
    timings = json.loads((tmp_path / "logs" / "timings.json").read_text())
    assert timings["metrics"][0]["value"] == 42
    assert timings["runs"][0]["image"] == str(iso)


@pytest.mark.kernel
def test_elf_test_list_matches_the_sources(keos_build):
    """harness/ktests.py reads the .ktests table of the built kernel: it must list exactly
    the KTEST()s of the sources, in an order the runner can use."""
    from harness import ktests
    keos_build.ensure()
    elf = hq.BUILD / "kernel.elf"
    in_elf = ktests.from_elf(elf)
    assert len(in_elf) == len(set(in_elf)), "a test is linked twice"
    assert sorted(in_elf) == ktests.from_sources(hq.ROOT), \
        f"{elf} is stale or the reader is wrong: run make"
    assert {n.split(".")[0] for n in in_elf} >= {"keos", "kev", "npt", "selftest"}


def test_elf_reader_rejects_other_files(tmp_path):
    from harness import ktests
    bogus = tmp_path / "x.elf"
    bogus.write_bytes(b"not an ELF file at all" * 10)
    with pytest.raises(ktests.ElfError):
        ktests.from_elf(bogus)


GRADE = GRADER / "grade.py"
FAKE_RUBRIC = """
[defaults]
timeout = 10
[tests."fake.pass"]
points = 50
[tests."fake.fail"]
points = 20
[tests."fake.skip"]
points = 10
[tests."fake.notimpl"]
points = 10
[tests."fake.hang"]
points = 10
timeout = 1
"""


def grade(tmp_path, *args):
    rubric_file = tmp_path / "rubric.toml"
    if not rubric_file.exists():
        rubric_file.write_text(FAKE_RUBRIC)
    env = dict(os.environ, KEOS_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([sys.executable, str(GRADE), "--rubric", str(rubric_file),
                           "--qemu", shlex.join(FAKE), *map(str, args)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=hq.ROOT)


def test_grade_scores_and_shows_why(tmp_path):
    start = time.monotonic()
    done = grade(tmp_path, "--json", tmp_path / "out.json", "-j", "2")
    took = time.monotonic() - start
    out = done.stdout
    assert done.returncode == 0, "a score is a result, not an error:\n" + out + done.stderr
    lines = {l.split()[0]: l for l in out.splitlines() if l.startswith("fake.")}
    assert lines["fake.pass"].split()[1:3] == ["PASS", "50/50"], out
    assert lines["fake.fail"].split()[1:3] == ["FAIL", "0/20"], out
    assert "kev/npt.c:42: CHECK_EQ(pte & PTE_P, PTE_P)" in lines["fake.fail"]
    assert lines["fake.skip"].split()[1:3] == ["SKIP", "0/10"], out
    assert "could not be graded on this machine: needs 2 CPUs" in lines["fake.skip"]
    assert lines["fake.notimpl"].split()[1:3] == ["NOT-IMPLEMENTED", "0/10"], out
    assert "npt_map (project3/npt.c:17)" in lines["fake.notimpl"]
    assert lines["fake.hang"].split()[1:3] == ["TIMEOUT", "0/10"], out
    assert "Score: 50/100" in out and "could not be graded on this machine" in out
    assert took < 15, f"grading 5 fake tests took {took:.1f} s"
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["score"] == 50 and report["possible"] == 100
    assert {t["name"]: t["earned"] for t in report["tests"]} == {
        "fake.pass": 50, "fake.fail": 0, "fake.skip": 0, "fake.notimpl": 0, "fake.hang": 0}
    assert hq.live_pids() == []


@pytest.mark.parametrize("args, status, score", [
    (["--expect-score", "50", "-j", "1"], 0, "Score: 50/100"),
    (["--expect-score", "100"], 1, "Score: 50/100"),
    (["--only", "fake.pass,fake.f*"], 0, "Score: 50/70 (only fake.pass,fake.f*)"),
    (["--only", "nothing.*"], 2, None),
])
def test_grade_options_and_exit_status(tmp_path, args, status, score):
    done = grade(tmp_path, *args)
    assert done.returncode == status, done.stdout + done.stderr
    if score:
        assert score in done.stdout, done.stdout


def test_grade_marks_forgeries_for_review(tmp_path):
    (tmp_path / "rubric.toml").write_text(
        '[tests."fake.pass"]\npoints = 90\n[tests."fake.forged_console"]\npoints = 10\n')
    done = grade(tmp_path)
    lines = {l.split()[0]: l for l in done.stdout.splitlines() if l.startswith("fake.")}
    assert lines["fake.forged_console"].split()[1:3] == ["FORGED", "0/10"], done.stdout
    assert "marked for review: forged verdict line in the console output: 'TEST-PASS" \
        in lines["fake.forged_console"]
    assert "Marked for review: 1 test(s) FORGED" in done.stdout
    assert "Score: 90/100" in done.stdout and done.returncode == 0


def load_grade_py():
    spec = importlib.util.spec_from_file_location("grade", GRADE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grade_starts_the_longest_test_first():
    gp = load_grade_py()
    items = [Item("a.short", 10, 20.0), Item("a.untimed", 10, 20.0),
             Item("a.long", 10, 20.0), Item("a.mid", 10, 60.0)]
    times = {"a.short": 0.5, "a.long": 3.0, "a.mid": 1.0}
    order = [items[k].name for k in gp.longest_first(items, times)]
    assert order == ["a.untimed", "a.long", "a.mid", "a.short"], \
        "recorded seconds first, else the rubric timeout (never timed counts as long)"
    assert [items[k].name for k in gp.longest_first(items, {})][0] == "a.mid", \
        "with no record the longest timeout starts first"
    assert gp.ideal_wall([3.0, 1.0, 1.0], 2) == 3.0
    assert gp.ideal_wall([2.0, 2.0, 2.0, 2.0], 2) == 4.0


def test_grade_remembers_times_and_reports_the_ideal_wall(tmp_path):
    done = grade(tmp_path, "--json", tmp_path / "out.json", "--only", "fake.pass,fake.fail")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Wall time: [0-9.]+ s for 2 tests, 2 at a time \(ideal [0-9.]+ s",
                     done.stdout), done.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    assert 0 < report["ideal_wall_s"] <= report["wall_s"] + 0.5, report
    times = json.loads((tmp_path / "logs" / "grade" / "times.json").read_text())
    assert [set(t) for t in times.values()] == [{"fake.pass", "fake.fail"}], times
    grade(tmp_path, "--only", "fake.skip")
    times = json.loads((tmp_path / "logs" / "grade" / "times.json").read_text())
    assert [set(t) for t in times.values()] == [{"fake.pass", "fake.fail", "fake.skip"}], \
        "a partial grade adds to the record of the ISO"


def test_grade_refuses_a_rubric_that_is_not_100(tmp_path):
    (tmp_path / "rubric.toml").write_text(FAKE_RUBRIC.replace("points = 50", "points = 49"))
    done = grade(tmp_path)
    assert done.returncode == 2 and "sum to 99, not 100" in done.stderr, done.stderr

"""The QEMU command line, the runner and the `keos` fixture, against the fake QEMU
(harness/fake_qemu.py): verdicts, log files, timeouts and killing, and that no QEMU
outlives the harness. After every run that starts a process, the test checks that the
process is gone."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import Verdict, qemu_args
from harness import qemu as hq
from harness.fakes import FAKE_QEMU, assert_gone, interruptible
from harness.paths import GRADER
from harness.plugin import Build, log_name


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


@pytest.mark.parametrize("has_qboot", [True, False])
def test_direct_boot_takes_qboot_only_where_qemu_has_it(tmp_path, monkeypatch, has_qboot):
    """-bios qboot.rom if a folder of `qemu -L help` holds it, else SeaBIOS (no -bios);
    the ISO boots through SeaBIOS either way (qboot cannot boot a CD)."""
    firmware = tmp_path / "share"
    firmware.mkdir()
    if has_qboot:
        (firmware / "qboot.rom").write_bytes(b"rom")
    fake = tmp_path / "qemu"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = \"-L help\" ] && echo {tmp_path}/none && "
                    f"echo {firmware}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(hq, "QEMU", str(fake))
    hq.fast_bios.cache_clear()
    try:
        direct = " ".join(qemu_args("t", image="x/kernel.elf"))
        assert ("-bios qboot.rom -kernel x/kernel.elf" in direct) == has_qboot, direct
        assert "-bios" not in " ".join(qemu_args("t", image="x/keos.iso"))
        assert direct.startswith("-machine acpi=off -nodefaults "), direct
        monkeypatch.setenv("KEOS_QBOOT", "0")
        hq.fast_bios.cache_clear()
        assert hq.fast_bios() == []
        monkeypatch.delenv("KEOS_QBOOT")
        monkeypatch.setattr(hq, "QEMU", str(tmp_path / "no-such-qemu"))
        hq.fast_bios.cache_clear()
        assert hq.fast_bios() == []
    finally:
        hq.fast_bios.cache_clear()


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
    result = keos(f"fake.{scenario}", timeout=10, qemu_cmd=FAKE_QEMU)
    assert result.verdict == verdict, result.explain()
    assert_gone(result)
    assert Path(result.log_path).read_text() == result.log_text
    assert result.first_line_s is not None and result.first_line_s <= result.wall_s


def test_fake_details_reach_the_result(keos):
    result = keos("fake.multi", qemu_cmd=FAKE_QEMU)
    assert result.failure == "kev/mmio.c:99: CHECK(len == 4)"
    assert result.metrics == {("fake.a", "pages"): 3, ("fake.c", "pages"): 5}
    assert [t.verdict for t in result.tests.values()] == [
        Verdict.PASS, Verdict.FAIL, Verdict.PASS]
    crash = keos("fake.crash", qemu_cmd=FAKE_QEMU)
    assert "Could not open" in crash.stderr and "Could not open" in crash.explain()
    assert Path(crash.log_path + ".stderr").exists()


def test_fake_skip_skips_the_test(keos):
    result = keos("fake.skip", qemu_cmd=FAKE_QEMU)
    assert result.verdict == Verdict.SKIP, result.explain()
    with pytest.raises(pytest.skip.Exception, match="needs 2 CPUs"):
        result.expect_pass()


def test_overrides_reach_the_process(keos):
    result = keos("fake.echo,other.*", smp=2, cpu="qemu64,-svm",
                  extra=["-fw_cfg", "name=opt/keos/extra,string=1"], qemu_cmd=FAKE_QEMU)
    result.expect_pass()
    lines = result.log.lines
    assert "SELECTION fake.echo,other.*" in lines
    assert "CPU qemu64,-svm" in lines and "SMP 2" in lines
    assert any("name=opt/keos/extra,string=1" in line for line in lines)


def test_logs_are_per_test_and_per_run(keos, request):
    first = keos("fake.pass", qemu_cmd=FAKE_QEMU)
    second = keos("fake.fail", qemu_cmd=FAKE_QEMU)
    base = hq.LOG_DIR / log_name(request.node.nodeid)
    assert first.log_path == f"{base}.log"
    assert second.log_path == f"{base}.2.log"
    assert "TEST-PASS" in Path(first.log_path).read_text()
    assert "TEST-FAIL" in Path(second.log_path).read_text()
    props = [v for k, v in request.node.user_properties if k == "keos_run"]
    assert [(p["run"], p["verdict"]) for p in props] == [(1, "PASS"), (2, "FAIL")]


def test_timeout_kills_the_process(keos):
    start = time.monotonic()
    result = keos("fake.hang", timeout=1, qemu_cmd=FAKE_QEMU)
    took = time.monotonic() - start
    limit = result.timeout_s        # 1 s times --keos-timeout-scale
    assert result.verdict == Verdict.TIMEOUT
    assert limit <= result.wall_s < limit + 0.5, (result.wall_s, limit)
    assert took < limit + 3, f"the harness took {took:.1f} s to stop a SIGTERM-able process"
    assert_gone(result)


# The two graces are shortened here (hq.run's arguments; 2 s each by default): the
# fake process never ends by itself, so each test would wait out a whole grace.
SHORT_GRACE_S = 0.3


def test_timeout_escalates_to_sigkill(tmp_path):
    result = hq.run("fake.stubborn", timeout=0.5, qemu=FAKE_QEMU, log_path=tmp_path / "x.log",
                    kill_grace=SHORT_GRACE_S)
    assert result.verdict == Verdict.TIMEOUT
    assert result.status == -signal.SIGKILL, "SIGTERM was ignored, so SIGKILL must end it"
    assert_gone(result)


@pytest.mark.timeout_s(0.7)
def test_timeout_marker(keos, request):
    result = keos("fake.hang", qemu_cmd=FAKE_QEMU)
    scale = request.config.getoption("keos_timeout_scale")
    assert result.timeout_s == pytest.approx(0.7 * scale)
    assert result.verdict == Verdict.TIMEOUT
    assert_gone(result)


def test_wall_time_is_time_to_verdict_line(keos):
    # fake.slow prints TESTS-DONE at 0.5 s and exits 1 s later.
    result = keos("fake.slow", qemu_cmd=FAKE_QEMU)
    result.expect_pass()
    assert 0.5 <= result.wall_s < 1.4, result.wall_s   # the exit comes at 1.5 s
    assert_gone(result)


def test_stopped_after_tests_done_if_it_does_not_exit(tmp_path):
    result = hq.run("fake.done_hang", qemu=FAKE_QEMU, log_path=tmp_path / "x.log",
                    exit_grace=SHORT_GRACE_S)
    assert result.verdict == Verdict.PASS and "did not exit" in result.note
    assert_gone(result)


def test_selection_too_long_for_the_kernel_is_refused(keos):
    # keos/main.c keeps 255 bytes of it: the rest would be dropped without a word.
    names = ",".join(f"npt.test_number_{i}" for i in range(20))
    assert len(names) > hq.SELECTION_MAX
    with pytest.raises(ValueError, match="at most 255"):
        keos(names, qemu_cmd=FAKE_QEMU)
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


SIGNAL_EXIT_S = 10     # how long the harness may take to stop after a signal


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
              f"qemu.run('fake.hang', timeout=60, qemu={FAKE_QEMU!r}, "
              f"log_path={str(tmp_path / 'x.log')!r})\n")
    env = dict(os.environ, FAKE_QEMU_PIDFILE=str(pidfile))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=interruptible)
    try:
        pid = _wait_for_pid(pidfile, proc)
        start_time = hq.proc_start_time(pid)
        assert hq.is_alive(pid, start_time)
        proc.send_signal(how)
        try:
            proc.wait(SIGNAL_EXIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"the harness was still running {SIGNAL_EXIT_S} s after "
                                 f"{how.name}; its stderr:\n{err.decode(errors='replace')}")
        assert _wait_gone(pid, start_time), f"fake QEMU {pid} survived {how.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# stop_all() before run(), or while run() starts its QEMU (stop_all() sets the flag from
# another thread; here the Popen does, deterministically). Only qemu.py's direct
# subprocess.Popen is wrapped: subprocess.run (fast_bios's `qemu -L help`) keeps the real one.
STOP_ALL_LANDS = {
    "before": "qemu.stop_all()\n",
    "during": "real = qemu.subprocess.Popen\n"
              "def popen(*a, **k):\n"
              "    proc = real(*a, **k)\n"
              "    qemu.stop_all()\n"
              "    return proc\n"
              "qemu.subprocess = type(qemu.subprocess)('subprocess')\n"
              "qemu.subprocess.__dict__.update(vars(__import__('subprocess')), Popen=popen)\n",
}


@pytest.mark.parametrize("when, says", [("before", "not starting QEMU for fake.hang"),
                                        ("during", "stopped QEMU for fake.hang as it started")])
def test_no_qemu_runs_after_stop_all(tmp_path, when, says):
    """Once stop_all() has run (grade.py on Ctrl-C), run() starts no QEMU, and stops one it
    was starting: a pool's worker thread that had taken a test would otherwise boot it,
    and a hung test holds the interrupted grade for its whole budget."""
    pidfile = tmp_path / "fake.pid"
    script = (f"import sys; sys.path.insert(0, {str(GRADER)!r})\n"
              f"from harness import qemu\n" + STOP_ALL_LANDS[when] +
              f"try:\n"
              f"    qemu.run('fake.hang', timeout=3, qemu={FAKE_QEMU!r}, "
              f"log_path={str(tmp_path / 'x.log')!r})\n"
              f"except qemu.Stopped as e:\n"
              f"    print('stopped:', e)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, FAKE_QEMU_PIDFILE=str(pidfile)))
    assert done.stdout.startswith(f"stopped: {says}"), done.stdout + done.stderr
    if when == "before":
        assert not pidfile.exists(), "a QEMU was started after stop_all()"
    elif pidfile.exists() and pidfile.read_text():
        pid = int(pidfile.read_text())
        assert not hq.is_alive(pid, hq.proc_start_time(pid)), f"fake QEMU {pid} still runs"


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

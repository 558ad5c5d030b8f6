"""Start QEMU on a KeOS image, read its serial output as it arrives, and always stop it.

`qemu_args()` is the one definition of the QEMU command line: `make run` and `make run-gdb`
go through this package too (python3 -m harness), and so does guests/bare_test.py. A boot
image is either the kernel ELF, booted directly by QEMU's -kernel (multiboot1, the
default), or the GRUB ISO (BOOT=iso, env KEOS_BOOT=iso). `run()` starts one QEMU, returns a
`Result` (harness/log.py), and never leaves the process behind: it is killed by PID at
the deadline, when the caller is interrupted, and (through PR_SET_PDEATHSIG) when the
Python process itself dies.
"""

import atexit
import ctypes
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .log import Result, parse_log

ROOT = Path(__file__).resolve().parents[2]
# The Makefile's build directory for this toolchain (env KEOS_BUILD; `make` sets it).
BUILD = Path(os.environ.get("KEOS_BUILD", ROOT / "build")).resolve()
# How a boot image is made from a build directory: BOOT=direct|iso in the Makefile.
IMAGE_NAMES = {"direct": "kernel.elf", "iso": "keos.iso"}
BOOT = os.environ.get("KEOS_BOOT") or "direct"
if BOOT not in IMAGE_NAMES:
    raise SystemExit(f"KEOS_BOOT={BOOT!r}: use one of {', '.join(IMAGE_NAMES)}")
IMAGE = BUILD / IMAGE_NAMES[BOOT]
ISO = BUILD / IMAGE_NAMES["iso"]
DISK = BUILD / "disk.img"
LOG_DIR = Path(os.environ.get("KEOS_LOG_DIR", BUILD / "logs"))

QEMU = "qemu-system-x86_64"
CPU = "qemu64,+svm,+npt"
SMP = 4
MEMORY = "512M"
FW_CFG_TEST = "opt/keos/test"
# keos/watchdog.c: "<budget> <stall limit>" in ms. Past the test's budget, or once a CPU
# has run with interrupts off or spun on one spinlock for the stall limit, the kernel
# stops every CPU, reports where each was, and exits as TIMEOUT (status 43), before the
# host's timeout.
FW_CFG_WATCHDOG = "opt/keos/watchdog_ms"
# A run given no budget gets this share of its timeout, so the kernel's report comes first.
WATCHDOG_SHARE = 0.75
# Spinlocks are held with interrupts off, for microseconds, or across a disk read in the
# pager; a stall this long is a hang. (Measured: with six other QEMUs on 2 cores, the
# reference pager held npt_lock across one read for over 2 s while three CPUs spun.)
STALL_S = 10.0
# keos/main.c reads the selection into a 256-byte buffer: a longer one would be cut off
# and silently run fewer tests, so run() refuses it.
SELECTION_MAX = 255

EXIT_GRACE_S = 2.0   # after TESTS-DONE, how long QEMU may take to exit by itself
KILL_GRACE_S = 2.0   # after SIGTERM, how long before SIGKILL


class QemuMissing(Exception):
    pass


def fw_cfg_string(name, value):
    """-fw_cfg option text; QEMU's option parser needs commas in values doubled."""
    return f"name={name},string={value.replace(',', ',,')}"


def boot_args(image):
    """How QEMU boots `image`: a .iso through SeaBIOS and GRUB (multiboot2), anything
    else as a multiboot1 kernel loaded by QEMU itself (-kernel: no GRUB, no ISO)."""
    if str(image).endswith(".iso"):
        return ["-boot", "d", "-cdrom", str(image)]
    return ["-kernel", str(image)]


def machine_args(cpu=None, smp=SMP, memory=MEMORY, accel="tcg,thread=multi"):
    """The emulated machine alone: CPU with SVM and NPT, vCPUs, RAM, no display, and the
    isa-debug-exit port through which the kernel ends QEMU with its verdict."""
    return [
        "-cpu", cpu or CPU,
        "-smp", str(smp),
        "-accel", accel,
        "-m", memory,
        "-no-reboot",
        "-display", "none",
        "-monitor", "none",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]


def qemu_args(test, image=IMAGE, disk=DISK, smp=SMP, cpu=None, extra=(), serial="stdio",
              watchdog_ms=None):
    """QEMU's arguments (without the program name) to boot KeOS and run `test`.

    `test` is a name, a comma-separated list, or a prefix ending in '*' (empty: the
    kernel's default, every test but selftest.*). `image`: see boot_args(). `serial` is
    stdio both for the harness (read through a pipe) and for `make run` (the terminal).
    `watchdog_ms`: (each test's budget, the stall limit) for keos/watchdog.c; None: none.
    """
    return machine_args(cpu, smp) + ["-serial", serial] + boot_args(image) + [
        "-drive", f"file={disk},if=none,id=disk0,format=raw,readonly=on",
        "-device", "virtio-blk-pci,drive=disk0,disable-modern=on",
    ] + (["-fw_cfg", fw_cfg_string(FW_CFG_TEST, test)] if test else []) + \
        (["-fw_cfg", fw_cfg_string(FW_CFG_WATCHDOG, "%d %d" % watchdog_ms)]
         if watchdog_ms is not None else []) + list(extra)


# ---------------------------------------------------------------------------------------
# Process bookkeeping: every QEMU this process starts, so none can be left behind.

_live = {}        # pid -> Popen, QEMUs started and not yet reaped
_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return _libc


def _die_with_parent(parent):
    """Returns the function the child runs between fork and exec: have the kernel SIGKILL
    it when the harness dies (even by SIGKILL), and give up if that already happened."""
    PR_SET_PDEATHSIG = 1

    prctl = getattr(_libc, "prctl", None)     # Linux only (macOS: the atexit hook alone)

    def child():
        if prctl:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(125)
    return child


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), or None if gone.
    With the PID it identifies a process even if the PID is later reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return int(stat.rsplit(")", 1)[1].split()[19])


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def is_alive(pid, start_time):
    """True if that exact process still exists, zombie included (not reaped is not gone)."""
    return start_time is not None and proc_start_time(pid) == start_time


def live_pids():
    return sorted(_live)


def stop(proc, grace=KILL_GRACE_S):
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps. Returns the status.
    If interrupted, the process stays in _live for stop_all() at exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _live.pop(proc.pid, None)
    return proc.returncode


def stop_pid(pid):
    """Stop a QEMU this process started, if it is still running (by PID, never by name)."""
    proc = _live.get(pid)
    if proc is not None:
        stop(proc)


def stop_all():
    for proc in list(_live.values()):
        stop(proc)


atexit.register(stop_all)


# ---------------------------------------------------------------------------------------
# One run.

def find_qemu():
    path = shutil.which(QEMU)
    if path is None:
        raise QemuMissing(f"{QEMU} not found: install qemu-system-x86")
    return path


_DONE_LINE = re.compile(rb"(?:\x1b\[[0-9;?]*[A-Za-z])*TESTS-DONE ")


class _Reader:
    """Collects serial bytes, writes them to the log as they come, timestamps lines."""

    def __init__(self, log_file, t0, echo=None):
        self.log_file = log_file
        self.t0 = t0
        self.echo = echo
        self.data = bytearray()
        self.partial = b""
        self.first_line_s = None
        self.done_s = None      # when the TESTS-DONE line arrived

    def feed(self, chunk, now):
        self.data += chunk
        self.log_file.write(chunk)
        self.log_file.flush()
        if self.echo:
            self.echo(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if self.first_line_s is None:
                self.first_line_s = now - self.t0
            if self.done_s is None and _DONE_LINE.match(line):
                self.done_s = now - self.t0


def run(test, *, timeout=30.0, smp=SMP, cpu=None, extra=(), log_path=None, qemu=None,
        image=IMAGE, disk=DISK, exit_grace=EXIT_GRACE_S, kill_grace=KILL_GRACE_S,
        echo=None, watchdog=None, stall=STALL_S):
    """Boot KeOS with test selection `test` in a fresh QEMU and return its Result.

    timeout: wall-clock seconds from spawn to verdict. watchdog: each test's budget in
    seconds, enforced by the kernel (default: WATCHDOG_SHARE of the timeout; 0: none);
    stall: seconds a CPU may run with interrupts off or spin on one lock. qemu: the
    command to run instead of
    qemu-system-x86_64 (a list; the tests use a fake). echo: called with each chunk of
    serial output (the command-line tool shows it live).
    """
    if len(test.encode()) > SELECTION_MAX:
        raise ValueError(f"test selection of {len(test.encode())} bytes: the kernel reads at "
                         f"most {SELECTION_MAX} (use group.* patterns or several runs)")
    program = list(qemu) if qemu else [find_qemu()]
    if watchdog is None:
        watchdog = timeout * WATCHDOG_SHARE
    cmd = program + qemu_args(test, image=image, disk=disk, smp=smp, cpu=cpu, extra=extra,
                              watchdog_ms=(round(watchdog * 1000),
                                           round(min(stall, watchdog) * 1000))
                              if watchdog else None)
    log_path = Path(log_path or LOG_DIR / "run.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    err_path = log_path.with_suffix(log_path.suffix + ".stderr")
    _load_libc()

    with open(log_path, "wb") as log_file, open(err_path, "w+b") as err_file:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err_file, cwd=ROOT, start_new_session=True,
                                preexec_fn=_die_with_parent(os.getpid()))
        _live[proc.pid] = proc
        start_time = proc_start_time(proc.pid)
        reader = _Reader(log_file, t0, echo)
        try:
            ended = _pump(proc, reader, t0 + timeout, exit_grace)
        finally:
            # Whatever happened (including KeyboardInterrupt), QEMU does not outlive us.
            proc.stdout.close()
            stop(proc, kill_grace)
        err_file.seek(0)
        stderr = err_file.read().decode(errors="replace")
    if not stderr:
        err_path.unlink(missing_ok=True)

    exit_s = ended["at"] - t0
    return Result.from_output(
        reader.data.decode(errors="replace"), proc.returncode, selection=test,
        timed_out=ended["why"] == "deadline" and reader.done_s is None,
        killed_after_done=ended["why"] == "deadline" and reader.done_s is not None,
        wall_s=reader.done_s if reader.done_s is not None else exit_s,
        log_path=str(log_path), stderr=stderr, cmd=cmd, pid=proc.pid,
        first_line_s=reader.first_line_s, timeout_s=timeout,
        start_time=start_time)


def _pump(proc, reader, deadline, exit_grace):
    """Read serial output until QEMU exits or the deadline passes.

    Returns {"why": "exit" | "deadline", "at": monotonic time}. After TESTS-DONE the
    deadline shrinks to `exit_grace` seconds: the verdict is known, QEMU should exit.
    """
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while True:
            if reader.done_s is not None:
                deadline = min(deadline, reader.t0 + reader.done_s + exit_grace)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"why": "deadline", "at": time.monotonic()}
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            now = time.monotonic()
            if not chunk:
                break
            reader.feed(chunk, now)
    finally:
        sel.close()
    # EOF: QEMU closed its stdout, it is exiting. Wait for its status (bounded).
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return {"why": "deadline", "at": time.monotonic()}
    return {"why": "exit", "at": time.monotonic()}


__all__ = ["run", "qemu_args", "boot_args", "machine_args", "QemuMissing", "is_alive",
           "live_pids", "stop_all", "parse_log", "ROOT", "BUILD", "BOOT", "IMAGE", "ISO",
           "DISK", "LOG_DIR"]

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
import errno
import functools
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import cheader, faultmap, verdict
from .log import Result, parse_log
from .paths import ROOT

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
SMP = cheader.define("keos/machine.h", "MACHINE_CPUS")
MEMORY = "512M"
FW_CFG_TEST = "opt/keos/test"
# The verdict channel (harness/verdict.py): QEMU's debug console, port 0xe9. run() hands
# QEMU a pipe (/dev/fd/N) and reads it; other callers (gdb-batch, --print-cmd) discard it.
CHANNEL = "/dev/null"
# keos/watchdog.c: "<budget> <stall limit>" in ms. Past the test's budget, or once a CPU
# has run with interrupts off or spun on one spinlock for the stall limit, the kernel
# stops every CPU, reports where each was, and exits as TIMEOUT (status 43), before the
# host's timeout.
FW_CFG_WATCHDOG = "opt/keos/watchdog_ms"
# Present under record/replay: kev/svm.c then runs guests with host interrupts off.
FW_CFG_RECORD = "opt/keos/record"
# A run given no budget gets this share of its timeout, so the kernel's report comes first.
WATCHDOG_SHARE = 0.75
# Spinlocks are held with interrupts off, for microseconds, or across a disk read in the
# pager; a stall this long is a hang. (Measured: with six other QEMUs on 2 cores, the
# reference pager held npt_lock across one read for over 2 s while three CPUs spun.)
STALL_S = 10.0
# keos/main.c reads the selection into a 256-byte buffer: a longer one would be cut off
# and silently run fewer tests, so run() refuses it.
SELECTION_MAX = 255

SYS_IO_URING_SETUP = 425      # Linux 5.1+, x86-64, arm64 and every other generic-table arch


def io_uring_usable():
    """Does this Linux let us use io_uring? Older kernels lack it (ENOSYS); a container's
    seccomp profile (Docker's default) or a sysctl may forbid it (EPERM). The probe is an
    io_uring_setup() call with no parameters, which fails either way, but with another
    errno (EFAULT) where io_uring is there to use."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.syscall(SYS_IO_URING_SETUP, 0, None) >= 0:
        return True         # not expected; there is no ring to close without parameters
    return ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM)


# The disk gets its own I/O thread and io_uring where it can be used (else QEMU's
# threads): together they make a pager page load several times faster under TCG
# (PLATFORM.md, "Where a test's time goes").
DISK_AIO = "io_uring" if io_uring_usable() else "threads"

EXIT_GRACE_S = 2.0   # after TESTS-DONE, how long QEMU may take to exit by itself
KILL_GRACE_S = 2.0   # after SIGTERM, how long before SIGKILL


class QemuMissing(Exception):
    pass


def add_image_options(ap, what="boot"):
    """--image and --disk for a command-line tool that boots the kernel (grade.py,
    bench.py): one definition of their names, defaults and environment variable."""
    ap.add_argument("--image", "--iso", dest="image",
                    default=os.environ.get("KEOS_IMAGE", str(IMAGE)),
                    help=f"kernel ELF (booted directly) or GRUB ISO to {what} (env "
                         "KEOS_IMAGE; default build/kernel.elf)")
    ap.add_argument("--disk", default=str(DISK), help="disk image (build/disk.img)")


def fw_cfg_string(name, value):
    """-fw_cfg option text; QEMU's option parser needs commas in values doubled."""
    return f"name={name},string={value.replace(',', ',,')}"


# The firmware of a -kernel boot: qboot, the minimal one QEMU ships beside SeaBIOS, when
# this QEMU has it. It neither sets PCI devices up nor runs option ROMs, so it reaches the
# kernel in half of SeaBIOS's time (a one-test run: 0.19 s -> 0.10 s, measured
# 2026-11-26); the kernel gives the disk its I/O ports itself (pci_io_base, keos/pci.c).
FAST_BIOS = "qboot.rom"


@functools.lru_cache(maxsize=None)
def fast_bios():
    """["-bios", "qboot.rom"] if QEMU's firmware folders (`-L help`) hold it, else []
    (SeaBIOS, QEMU's default: slower, same kernel). Env KEOS_QBOOT=0: SeaBIOS anyway."""
    if os.environ.get("KEOS_QBOOT") == "0":
        return []
    try:
        dirs = subprocess.run([QEMU, "-L", "help"], capture_output=True, text=True,
                              timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["-bios", FAST_BIOS] if any((Path(d) / FAST_BIOS).is_file() for d in dirs) else []


def boot_args(image):
    """How QEMU boots `image`: a .iso through SeaBIOS and GRUB (multiboot2), anything
    else as a multiboot1 kernel loaded by QEMU itself (-kernel: no GRUB, no ISO), after
    the fast firmware if there is one."""
    if str(image).endswith(".iso"):
        return ["-boot", "d", "-cdrom", str(image)]
    return fast_bios() + ["-kernel", str(image)]


def machine_args(cpu=None, smp=SMP, memory=MEMORY, accel="tcg,thread=multi"):
    """The emulated machine alone: CPU with SVM and NPT, vCPUs, RAM, no display, and the
    isa-debug-exit port through which the kernel ends QEMU with its verdict. No default
    devices (-nodefaults): the VGA card and network card QEMU adds otherwise bring option
    ROMs that SeaBIOS spends a quarter of a short run on, and the kernel uses neither.
    No ACPI tables (acpi=off): the kernel reads none (fw_cfg gives it the CPU count), and
    QEMU building them was a tenth of a one-test run's CPU (npt.simple: 64.3 -> 58.8 ms,
    medians of 21 interleaved runs, 2026-11-26)."""
    return [
        "-machine", "acpi=off",
        "-nodefaults",
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
              channel=CHANNEL, secret=None, watchdog_ms=None):
    """QEMU's arguments (without the program name) to boot KeOS and run `test`.

    `test` is a name, a comma-separated list, or a prefix ending in '*' (empty: the
    kernel's default, every test but selftest.*). `image`: see boot_args(). `serial` is
    stdio both for the harness (read through a pipe) and for `make run` (the terminal).
    `channel` is where the verdict channel goes, `secret` the run's key for its MACs
    (harness/verdict.py); run() passes a pipe and a fresh secret.
    `watchdog_ms`: (each test's budget, the stall limit) for keos/watchdog.c; None: none.
    """
    return machine_args(cpu, smp) + ["-serial", serial, "-debugcon", f"file:{channel}"] + \
        boot_args(image) + [
        "-object", "iothread,id=iothread0",
        "-drive", f"file={disk},if=none,id=disk0,format=raw,readonly=on,aio={DISK_AIO}",
        "-device", "virtio-blk-pci,drive=disk0,disable-modern=on,iothread=iothread0",
    ] + (["-fw_cfg", fw_cfg_string(FW_CFG_TEST, test)] if test else []) + \
        (["-fw_cfg", fw_cfg_string(verdict.FW_CFG_SECRET, secret)] if secret else []) + \
        (["-fw_cfg", fw_cfg_string(FW_CFG_WATCHDOG, "%d %d" % watchdog_ms)]
         if watchdog_ms is not None else []) + list(extra)


def record_replay_args(args, mode, rrfile):
    """Rewrite `qemu_args()`'s arguments for QEMU's deterministic record/replay.

    mode is "record" or "replay"; rrfile the file of recorded events. Whatever the boot
    (`-cdrom` ISO or `-kernel`), QEMU 7.2 needs (measured: /work/shared/PLATFORM.md):
    one vCPU on single-threaded TCG, no network, `-icount` in rr mode, and a `blkreplay`
    filter over every drive. Drives get `snapshot=on` instead of `readonly=on`: writes
    go to a temporary overlay (the files stay untouched, no scratch copy), and that
    overlay is where QEMU keeps the VM snapshot that reverse debugging starts from.
    No kvmvapic (`apic.vapic=off`, a ROM for old Windows guests): loading that snapshot
    resets it, its reset waits for the vCPU thread (run_on_cpu) while the main loop
    holds the replay mutex the vCPU thread waits for, and QEMU 7.2 deadlocks
    (reverse-continue and reverse-stepi hung 4 runs in 5 under load, 2026-11-26).
    opt/keos/record tells the kernel: no host interrupt may end a guest's run, since
    QEMU 7.2 cannot replay the #VMEXIT it causes (kev/svm.c).
    """
    if mode not in ("record", "replay"):
        raise ValueError(f"record/replay mode {mode!r}: record or replay")
    out, i = [], 0
    while i < len(args):
        opt = args[i]
        val = args[i + 1] if i + 1 < len(args) else None
        if opt == "-smp":
            out += ["-smp", "1"]
        elif opt == "-accel":
            out += ["-accel", "tcg,thread=single"]
        elif opt == "-cdrom":
            out += _blkreplay_drive(f"file={val},format=raw,media=cdrom", "rr-cdrom")
            out += ["-device", "ide-cd,drive=rr-cdrom"]
        elif opt == "-drive":
            out += _blkreplay_drive(val, None)
        elif opt == "-object" and val.startswith("iothread,"):
            pass                    # the disk's I/O thread: replayed I/O stays on the vCPU's
        elif opt == "-device" and ",iothread=" in val:
            out += ["-device", ",".join(o for o in val.split(",")
                                        if not o.startswith("iothread="))]
        else:
            out.append(opt)
            i += 1
            continue
        i += 2
    return out + ["-net", "none", "-global", "apic.vapic=off",
                  "-fw_cfg", fw_cfg_string(FW_CFG_RECORD, "1"),
                  "-icount", f"shift=auto,rr={mode},rrfile={rrfile}"]


def _blkreplay_drive(spec, drive_id):
    """-drive options for a drive behind a blkreplay filter that keeps the drive's id
    (so the -device that names it is unchanged): the image becomes <id>-image."""
    keep = [o for o in spec.split(",") if o.split("=")[0] not in
            ("id", "if", "readonly", "snapshot", "media")]
    drive_id = drive_id or dict(o.split("=", 1) for o in spec.split(",") if "=" in o)["id"]
    return ["-drive", ",".join(keep + ["if=none", f"id={drive_id}-image", "snapshot=on"]),
            "-drive", f"driver=blkreplay,if=none,image={drive_id}-image,id={drive_id}"]


# ---------------------------------------------------------------------------------------
# Process bookkeeping: every QEMU this process starts, so none can be left behind.

_live = {}        # pid -> Popen, QEMUs started and not yet reaped
# Set by stop_all(): from then on run() starts no QEMU. (grade.py's main thread stops
# everything on Ctrl-C while a worker thread may be between taking a test and starting
# its QEMU; that QEMU would run, a hung test to its budget, before the pool could end.)
_stopping = False
_libc = None


class Stopped(Exception):
    """run() was called, or was starting its QEMU, after stop_all()."""


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


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, comes
    first), or None if the process is gone. The name is in parentheses and may hold
    spaces, so the split starts after its last ')'."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), or None if gone.
    With the PID it identifies a process even if the PID is later reused."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def proc_state(pid):
    fields = proc_stat(pid)
    return fields[0] if fields else None


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
    """Stop every QEMU this process started, and start no more (see _stopping)."""
    global _stopping
    _stopping = True            # before the list: a run() that misses it is in the list
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


# TESTS-DONE on the verdict channel (its MAC is checked later, by the parser).
_DONE_LINE = re.compile(rb"\d+ [0-9a-f]{16} TESTS-DONE ")


class _Reader:
    """Collects one stream's bytes, writes them to its log as they come, timestamps
    lines."""

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


def rr_secret(mode, rrfile):
    """The verdict channel's secret for a recorded run. A replay must see the same fw_cfg
    bytes as its recording (else it diverges at once), so the secret is kept beside the
    event file. A recording is a local debugging aid, never a grade."""
    path = Path(f"{rrfile}.secret")
    if mode == "record":
        path.write_text(verdict.new_secret())
    elif not path.exists():
        raise ValueError(f"no {path}: record the run again (make record)")
    return path.read_text().strip()


def run(test, *, timeout=30.0, smp=SMP, cpu=None, extra=(), log_path=None, qemu=None,
        image=IMAGE, disk=DISK, exit_grace=EXIT_GRACE_S, kill_grace=KILL_GRACE_S,
        echo=None, rr=None, watchdog=None, stall=STALL_S):
    """Boot KeOS with test selection `test` in a fresh QEMU and return its Result.

    timeout: wall-clock seconds from spawn to verdict. watchdog: each test's budget in
    seconds, enforced by the kernel (default: WATCHDOG_SHARE of the timeout; 0: none);
    stall: seconds a CPU may run with interrupts off or spin on one lock. qemu: the
    command to run instead of
    qemu-system-x86_64 (a list; the tests use a fake). echo: called with each chunk of
    serial output (the command-line tool shows it live). rr: ("record" or "replay",
    file) runs under QEMU's record/replay (record_replay_args).
    """
    if len(test.encode()) > SELECTION_MAX:
        raise ValueError(f"test selection of {len(test.encode())} bytes: the kernel reads at "
                         f"most {SELECTION_MAX} (use group.* patterns or several runs)")
    if _stopping:
        raise Stopped(f"not starting QEMU for {test}: this process is stopping its QEMUs")
    program = list(qemu) if qemu else [find_qemu()]
    if watchdog is None:
        watchdog = timeout * WATCHDOG_SHARE
    secret = rr_secret(*rr) if rr else verdict.new_secret()
    channel_r, channel_w = os.pipe()        # the verdict channel, read as it arrives
    args = qemu_args(test, image=image, disk=disk, smp=smp, cpu=cpu, extra=extra,
                     channel=f"/dev/fd/{channel_w}", secret=secret,
                     watchdog_ms=(round(watchdog * 1000), round(min(stall, watchdog) * 1000))
                     if watchdog else None)
    cmd = program + (record_replay_args(args, *rr) if rr else args)
    log_path = Path(log_path or LOG_DIR / "run.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    err_path = log_path.with_suffix(log_path.suffix + ".stderr")
    channel_path = log_path.with_suffix(log_path.suffix + ".verdict")
    _load_libc()

    with open(log_path, "wb") as log_file, open(err_path, "w+b") as err_file, \
            open(channel_path, "wb") as channel_file, os.fdopen(channel_r, "rb") as chan:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err_file, cwd=ROOT, start_new_session=True,
                                    pass_fds=(channel_w,),
                                    preexec_fn=_die_with_parent(os.getpid()))
        finally:
            os.close(channel_w)             # QEMU holds it now: EOF when QEMU is gone
        _live[proc.pid] = proc
        if _stopping:                       # stop_all() ran during the Popen above
            stop(proc, 0)
            raise Stopped(f"stopped QEMU for {test} as it started: this process is stopping")
        start_time = proc_start_time(proc.pid)
        reader = _Reader(log_file, t0, echo)
        channel = _Reader(channel_file, t0)
        try:
            ended = _pump(proc, {proc.stdout: reader, chan: channel}, channel, t0 + timeout,
                          exit_grace)
        finally:
            # Whatever happened (including KeyboardInterrupt), QEMU does not outlive us.
            proc.stdout.close()
            stop(proc, kill_grace)
        err_file.seek(0)
        stderr = err_file.read().decode(errors="replace")
    if not stderr:
        err_path.unlink(missing_ok=True)

    exit_s = ended["at"] - t0
    done_s = channel.done_s
    text = reader.data.decode(errors="replace")
    faultmap.write_svgs(text, log_path)      # pager runs: <log>.faultmap.svg
    return Result.from_output(
        text, proc.returncode, selection=test,
        channel=channel.data.decode(errors="replace"), secret=secret,
        timed_out=ended["why"] == "deadline" and done_s is None,
        killed_after_done=ended["why"] == "deadline" and done_s is not None,
        wall_s=done_s if done_s is not None else exit_s,
        log_path=str(log_path), stderr=stderr, cmd=cmd, pid=proc.pid,
        first_line_s=reader.first_line_s, timeout_s=timeout,
        start_time=start_time)


def _pump(proc, readers, channel, deadline, exit_grace):
    """Read the console and the verdict channel ({file: _Reader}) until QEMU exits (both
    reach EOF) or the deadline passes.

    Returns {"why": "exit" | "deadline", "at": monotonic time}. After TESTS-DONE on the
    channel the deadline shrinks to `exit_grace` seconds: QEMU should exit.
    """
    sel = selectors.DefaultSelector()
    for f, r in readers.items():
        sel.register(f.fileno(), selectors.EVENT_READ, r)
    try:
        while sel.get_map():
            if channel.done_s is not None:
                deadline = min(deadline, channel.t0 + channel.done_s + exit_grace)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"why": "deadline", "at": time.monotonic()}
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.feed(chunk, time.monotonic())
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
    # EOF: QEMU closed its stdout, it is exiting. Wait for its status (bounded).
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return {"why": "deadline", "at": time.monotonic()}
    return {"why": "exit", "at": time.monotonic()}


__all__ = ["run", "qemu_args", "boot_args", "machine_args", "CHANNEL", "QemuMissing",
           "Stopped", "is_alive", "live_pids", "stop_all", "parse_log", "ROOT", "BUILD",
           "BOOT", "IMAGE", "ISO", "DISK", "LOG_DIR"]

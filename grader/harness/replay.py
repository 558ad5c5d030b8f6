"""Record one test run and replay it deterministically, with gdb attached (reverse debugging).

    grader/replay.py record npt.simple [--image build/solution/kernel.elf]  # make record
    grader/replay.py replay                    # replay, compare the serial output
    grader/replay.py gdb [--port N]            # replay paused for gdb       # make replay-gdb

Everything goes to build/replay/: the recording (replay.bin), the serial log of the
recorded run (record.log) and of the last replay (replay.log), and session.json, which
says what was recorded (a replay must boot exactly the same way). The QEMU command line is
qemu.qemu_args() rewritten by qemu.record_replay_args().

Under record the machine has ONE vCPU on single-threaded TCG: tests that want several
vCPUs running at once (pager.stress) run, but their concurrency is simulated, not real.
What replays (measured with QEMU 7.2, handouts/debugging.md): npt.*, mmio.print,
pager.boot_keos, pager.lazy in seconds; pager.stress in minutes. Why a replay passes
the recorded watchdog budget, and what qemu.record_replay_args changes: grader/README.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import qemu

DIR = qemu.BUILD / "replay"
RRFILE = DIR / "replay.bin"
SESSION = DIR / "session.json"
RECORD_LOG = DIR / "record.log"
REPLAY_LOG = DIR / "replay.log"
TIMEOUT_S = 120.0
GDB_SESSION_S = 24 * 3600.0     # make replay-gdb: as long as the student debugs
GDB_TIMEOUT_S = 60.0            # a scripted session (gdb_session): ~5 s on an idle machine
QEMU_START_S = 10.0             # until QEMU listens for gdb
QEMU_AFTER_GDB_S = 10.0         # QEMU's end after gdb's `kill`


def _echo(chunk):
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def _scaled(seconds):
    return seconds * float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))


def _machine(session):
    """qemu.run()'s arguments that decide what the guest sees: a replay must pass exactly
    the recorded ones. The watchdog's budget is one of them (the kernel reads it through
    fw_cfg): a replay given another one runs other code than the recording and hangs or
    dies where the recorded events no longer fit (the gdb session's hang, 2026-11-26)."""
    budget_ms, stall_ms = session["watchdog_ms"]
    return dict(image=session["image"], disk=session["disk"], watchdog=budget_ms / 1000,
                stall=stall_ms / 1000)


def record(test, image=qemu.IMAGE, disk=qemu.DISK, directory=DIR, echo=None):
    """Run `test` under record; returns its Result. Writes the session files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    timeout = _scaled(TIMEOUT_S)
    session = {"test": test, "image": str(Path(image).resolve()),
               "disk": str(Path(disk).resolve()), "rrfile": str(directory / RRFILE.name),
               "watchdog_ms": [round(timeout * qemu.WATCHDOG_SHARE * 1000),
                               round(qemu.STALL_S * 1000)]}
    for name in ("image", "disk"):
        if not Path(session[name]).exists():
            raise FileNotFoundError(f"no {session[name]}: run make first")
    result = qemu.run(test, timeout=timeout, log_path=directory / RECORD_LOG.name,
                      rr=("record", session["rrfile"]), echo=echo, **_machine(session))
    (directory / SESSION.name).write_text(json.dumps(session, indent=1) + "\n")
    return result


def load_session(directory=DIR):
    path = Path(directory) / SESSION.name
    try:
        session = json.loads(path.read_text())
    except (OSError, ValueError):
        raise FileNotFoundError(f"no recording in {directory}: run `make record TEST=...` "
                                f"first") from None
    if not Path(session.get("rrfile", "")).is_file() or "watchdog_ms" not in session:
        raise FileNotFoundError(f"{path} names no replay file, or is from an older "
                                f"`make record`: record again")
    return session


def replay(directory=DIR, extra=(), echo=None, timeout=TIMEOUT_S):
    """Replay the recording in `directory`; returns its Result (serial in replay.log).
    `extra`: more QEMU options that the guest cannot see (the gdb stub)."""
    s = load_session(directory)
    return qemu.run(s["test"], timeout=_scaled(timeout), log_path=Path(directory) /
                    REPLAY_LOG.name, rr=("replay", s["rrfile"]), extra=list(extra), echo=echo,
                    **_machine(s))


def gdb_stub_args(where):
    """QEMU waits, paused, for gdb at `where` (a QEMU chardev: tcp:host:port, unix:path)."""
    return ["-S", "-gdb", where]


class GdbSessionError(RuntimeError):
    """A scripted gdb session on a replay did not get through: which wait ran out, and
    what gdb had said by then."""


def _wait_for(path, seconds):
    give_up = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < give_up:
        time.sleep(0.05)
    return path.exists()


def gdb_session(script, directory=DIR, timeout=GDB_TIMEOUT_S):
    """Replay the recording in `directory` paused for gdb, run the gdb commands `script`
    (a list of lines) in `gdb -batch` against it, then `kill`; returns gdb's output.

    gdb reaches QEMU through a Unix socket of its own (no TCP port to clash with a
    parallel run). Every wait is bounded and says which one ran out (GdbSessionError):
    QEMU opening the socket, gdb's whole script (`timeout`, scaled), QEMU's end after
    gdb's `kill` (it is stopped by its PID otherwise)."""
    s = load_session(directory)
    with tempfile.TemporaryDirectory(prefix="keos-gdb-") as tmp:
        sock, commands = Path(tmp) / "gdb.sock", Path(directory) / "session.gdb"
        commands.write_text("\n".join(
            ["set confirm off", "set pagination off", f"file {kernel_elf(s)}",
             f"target remote {sock}"] + list(script) + ["kill"]) + "\n")
        before = set(qemu.live_pids())
        replaying = threading.Thread(target=replay, args=(directory,), kwargs=dict(
            extra=gdb_stub_args(f"unix:{sock},server=on,wait=off"),
            timeout=timeout + QEMU_AFTER_GDB_S))
        replaying.start()
        try:
            if not _wait_for(sock, _scaled(QEMU_START_S)):
                raise GdbSessionError(f"QEMU did not open its gdb socket within "
                                      f"{_scaled(QEMU_START_S):.0f} s")
            try:
                done = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", str(commands)],
                                      stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=_scaled(timeout))
            except subprocess.TimeoutExpired as e:
                raise GdbSessionError(f"gdb did not finish {commands} within "
                                      f"{_scaled(timeout):.0f} s; its output so far:\n"
                                      f"{_text(e.stdout)}{_text(e.stderr)}") from None
            replaying.join(_scaled(QEMU_AFTER_GDB_S))
            return done.stdout + done.stderr
        finally:
            for pid in set(qemu.live_pids()) - before:     # this session's QEMU, by PID
                qemu.stop_pid(pid)
            replaying.join()


def _text(out):
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def kernel_elf(session):
    """The symbols of the recorded kernel: kernel.elf (the image, or next to the ISO)."""
    return Path(session["image"]).parent / "kernel.elf"


def gdb_replay(port, directory=DIR):
    """`make replay-gdb`: QEMU replaying, paused for gdb, the serial console on the
    terminal (the same command line as replay()'s). `make gdb` (same SOLUTION=) connects
    to it. Ends with gdb's `kill`, Ctrl-C, or after a day."""
    s = load_session(directory)
    print(f"Replaying {s['test']} (recorded in {s['rrfile']}), paused: in another terminal "
          f"run `make gdb` (port {port}). reverse-stepi, reverse-next, reverse-continue "
          f"work; see handouts/debugging.md.", flush=True)
    return replay(directory, extra=gdb_stub_args(f"tcp:localhost:{port}"), echo=_echo,
                  timeout=GDB_SESSION_S)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="grader/replay.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run TEST under record (make record)")
    rec.add_argument("test")
    rec.add_argument("--image", default=str(qemu.IMAGE), help="kernel.elf or an ISO")
    rec.add_argument("--disk", default=str(qemu.DISK))
    sub.add_parser("replay", help="replay the recording, compare the serial output")
    g = sub.add_parser("gdb", help="replay paused for gdb (make replay-gdb)")
    g.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "record":
            result = record(args.test, image=args.image, disk=args.disk, echo=_echo)
            print(f"\nrecorded {args.test}: {result.verdict.name}; {RRFILE} "
                  f"({RRFILE.stat().st_size // 1024} KiB), log {RECORD_LOG}")
            print("Next: make replay-gdb, and make gdb in another terminal.")
            return 0
        if args.cmd == "replay":
            result = replay(echo=_echo)
            same = REPLAY_LOG.read_bytes() == RECORD_LOG.read_bytes()
            print(f"\nreplayed: {result.verdict.name}; serial output "
                  f"{'identical to' if same else 'DIFFERS from'} the recording")
            return 0 if same else 1
        gdb_replay(args.port)
    except KeyboardInterrupt:
        print("\nreplay: interrupted; QEMU stopped", file=sys.stderr)
        return 130
    except (FileNotFoundError, qemu.QemuMissing, ValueError) as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    return 0

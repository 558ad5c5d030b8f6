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
kev.hypercall_exit quickly; keos.fs_read_pieces 9x slower than recorded; a guest the
pager boots from the disk (pager.*) does not replay in useful time.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from . import qemu

DIR = qemu.BUILD / "replay"
RRFILE = DIR / "replay.bin"
SESSION = DIR / "session.json"
RECORD_LOG = DIR / "record.log"
REPLAY_LOG = DIR / "replay.log"
TIMEOUT_S = 120.0


def _echo(chunk):
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def _scaled(seconds):
    return seconds * float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))


def record(test, image=qemu.IMAGE, disk=qemu.DISK, directory=DIR, echo=None):
    """Run `test` under record; returns its Result. Writes the session files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    session = {"test": test, "image": str(Path(image).resolve()),
               "disk": str(Path(disk).resolve()), "rrfile": str(directory / RRFILE.name)}
    for name in ("image", "disk"):
        if not Path(session[name]).exists():
            raise FileNotFoundError(f"no {session[name]}: run make first")
    result = qemu.run(test, timeout=_scaled(TIMEOUT_S), image=session["image"],
                      disk=session["disk"], log_path=directory / RECORD_LOG.name,
                      rr=("record", session["rrfile"]), echo=echo)
    (directory / SESSION.name).write_text(json.dumps(session, indent=1) + "\n")
    return result


def load_session(directory=DIR):
    path = Path(directory) / SESSION.name
    try:
        session = json.loads(path.read_text())
    except (OSError, ValueError):
        raise FileNotFoundError(f"no recording in {directory}: run `make record TEST=...` "
                                f"first") from None
    if not Path(session["rrfile"]).exists():
        raise FileNotFoundError(f"{session['rrfile']} is missing: record again")
    return session


def replay(directory=DIR, extra=(), echo=None, timeout=TIMEOUT_S):
    """Replay the recording in `directory`; returns its Result (serial in replay.log)."""
    s = load_session(directory)
    return qemu.run(s["test"], timeout=_scaled(timeout), image=s["image"], disk=s["disk"],
                    log_path=Path(directory) / REPLAY_LOG.name, rr=("replay", s["rrfile"]),
                    extra=list(extra), echo=echo)


def gdb_stub_args(port):
    """QEMU waits, paused, for gdb on this port."""
    return ["-S", "-gdb", f"tcp:localhost:{port}"]


def kernel_elf(session):
    """The symbols of the recorded kernel: kernel.elf (the image, or next to the ISO)."""
    return Path(session["image"]).parent / "kernel.elf"


def gdb_replay(port, directory=DIR):
    """`make replay-gdb`: replace this process with QEMU replaying, paused for gdb, with
    the serial console on the terminal. `make gdb` (same SOLUTION=) connects to it."""
    s = load_session(directory)
    args = qemu.qemu_args(s["test"], image=s["image"], disk=s["disk"],
                          extra=gdb_stub_args(port))
    cmd = [qemu.find_qemu()] + qemu.record_replay_args(args, "replay", s["rrfile"])
    print(f"Replaying {s['test']} (recorded in {s['rrfile']}), paused: in another terminal "
          f"run `make gdb` (port {port}). reverse-stepi, reverse-next, reverse-continue "
          f"work; see handouts/debugging.md.", flush=True)
    os.execvp(cmd[0], cmd)


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
    except (FileNotFoundError, qemu.QemuMissing, ValueError) as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    return 0

"""`make gdb-batch`: QEMU paused with a gdb stub, a gdb script run against it, QEMU stopped.

    PYTHONPATH=grader python3 -m harness.gdb_batch --test pager.boot_keos [--iso ISO]
        [--kernel ELF] [--port N] [--timeout S] CMDS.gdb

QEMU's command line is qemu.qemu_args() (the one definition) plus `-S -gdb`. gdb runs
.gdbinit (symbols of the host kernel and the guest KeOS, the helpers) and then CMDS in
batch mode, from the top of the repository; what it prints is the output. The kernel's
serial output goes to build/logs/gdb-batch.log. Whatever happens (gdb's end, Ctrl-C, the
timeout), QEMU is stopped by its PID: a detached gdb would let it run on.

It writes build/gdb-connect.gdb (which .gdbinit sources, as after `make run-gdb`) with
the symbol files of the ISO being debugged and `target remote` to its port.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import qemu

CONNECT = qemu.BUILD / "gdb-connect.gdb"
GUEST_ELF = qemu.BUILD / "guests" / "keos.elf"
LOG = qemu.LOG_DIR / "gdb-batch.log"


def connect_script(kernel, port):
    # `symbol-file` alone drops every symbol file .gdbinit loaded (else the guest's
    # would be there twice), then the ISO's own kernel and the guest KeOS.
    lines = ["symbol-file", f"file {kernel}"]
    if GUEST_ELF.exists():
        lines.append(f"add-symbol-file {GUEST_ELF}")
    return "\n".join(lines + [f"target remote localhost:{port}", ""])


def run(test, cmds, iso=qemu.ISO, kernel=None, port=26000, timeout=120.0, smp=qemu.SMP):
    """Run the gdb script `cmds` against a paused QEMU running `test`. Returns (gdb's
    exit status, gdb's output, serial log path); QEMU is gone when it returns."""
    iso = Path(iso).resolve()
    kernel = Path(kernel) if kernel else iso.parent / "kernel.elf"
    for path, what in ((iso, "ISO"), (kernel, "kernel ELF"), (Path(cmds), "gdb script")):
        if not path.is_file():
            raise FileNotFoundError(f"gdb-batch: no {what} {path}")
    CONNECT.write_text(connect_script(kernel.resolve(), port))
    LOG.parent.mkdir(parents=True, exist_ok=True)
    args = qemu.qemu_args(test, iso=iso, disk=qemu.DISK, smp=smp,
                          extra=["-S", "-gdb", f"tcp:localhost:{port}"])
    with open(LOG, "wb") as log:
        proc = subprocess.Popen([qemu.find_qemu()] + args, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=qemu._die_with_parent(os.getpid()))
    qemu._live[proc.pid] = proc
    try:
        gdb = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", ".gdbinit", "-x", str(cmds)],
                             cwd=qemu.ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=timeout)
        return gdb.returncode, gdb.stdout + gdb.stderr, LOG
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        return 124, out + f"\ngdb-batch: gdb timed out after {timeout} s\n", LOG
    finally:
        qemu.stop(proc)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="gdb-batch", description=__doc__.splitlines()[0])
    ap.add_argument("cmds", help="the gdb script to run")
    ap.add_argument("--test", default="pager.boot_keos")
    ap.add_argument("--iso", default=str(qemu.ISO))
    ap.add_argument("--kernel", help="its symbols (default: kernel.elf beside the ISO)")
    ap.add_argument("--port", type=int, default=26000)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--smp", type=int, default=qemu.SMP)
    a = ap.parse_args(argv)
    try:
        status, out, log = run(a.test, a.cmds, a.iso, a.kernel, a.port, a.timeout, a.smp)
    except (FileNotFoundError, qemu.QemuMissing) as e:
        print(e, file=sys.stderr)
        return 2
    sys.stdout.write(out)
    print(f"gdb-batch: gdb ended with status {status}; QEMU stopped; serial log: {log}")
    return status


if __name__ == "__main__":
    sys.exit(main())

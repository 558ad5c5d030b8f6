"""`make gdb-batch`: QEMU paused with a gdb stub, a gdb script run against it, QEMU stopped.

    PYTHONPATH=grader python3 -m harness.gdb_batch --test pager.boot_keos [--image IMG]
        [--kernel ELF] [--port N] [--timeout S] CMDS.gdb
    PYTHONPATH=grader python3 -m harness.gdb_batch --write-session --kernel ELF --port N
    PYTHONPATH=grader python3 -m harness.gdb_batch --check-listening --port N

QEMU's command line is qemu.qemu_args() (the one definition) plus `-S -gdb`. gdb runs
.gdbinit (symbols of the host kernel and the guest KeOS, the helpers) and then CMDS in
batch mode, from the top of the repository; what it prints is the output. The kernel's
serial output goes to build/logs/gdb-batch.log. Whatever happens (gdb's end, Ctrl-C, the
timeout), QEMU is stopped by its PID: a detached gdb would let it run on.

`make run-gdb` and `make gdb` write build/gdb-session.gdb (which .gdbinit sources last)
through --write-session: the symbol files of the kernel being debugged and `target remote`
to its port. A batch run writes the same to a file of its own, which .gdbinit sources
instead when $kev_session names it.

--check-listening: exit 1 at once with a hint when nothing listens on the port (`make gdb`
before `make run-gdb`): gdb's own `target remote` would retry for 15 s first.
"""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import qemu

# Always the top build directory: .gdbinit reads it whatever the configuration.
SESSION = qemu.ROOT / "build" / "gdb-session.gdb"
GUEST_ELF = qemu.ROOT / "build" / "guests" / "keos.elf"
LOG = qemu.LOG_DIR / "gdb-batch.log"


def free_port():
    """A TCP port nothing listens on now, for a gdb stub (tests run side by side)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def write_session(kernel, port, path=SESSION):
    """build/gdb-session.gdb (or `path`): the host kernel's symbols (`symbol-file` alone
    first drops whatever was loaded), the guest KeOS's beside them, then `target remote`."""
    lines = ["symbol-file", f"file {Path(kernel).resolve()}"]
    if GUEST_ELF.exists():
        lines.append(f"add-symbol-file {GUEST_ELF}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + [f"target remote localhost:{port}", ""]))


def listening(port, wait=0.3):
    """Whether a socket listens on TCP `port` (any local address), from /proc/net/tcp and
    tcp6, polled for up to `wait` seconds (QEMU may be starting). No connection is made:
    QEMU's gdb stub serves one client. None where /proc/net is not there (not Linux)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return None
    deadline = time.monotonic() + wait
    while True:
        for table in tables:
            for line in table.read_text().splitlines()[1:] if table.exists() else ():
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:   # LISTEN
                    return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def run(test, cmds, image=qemu.IMAGE, kernel=None, port=26000, timeout=120.0, smp=qemu.SMP):
    """Run the gdb script `cmds` against a paused QEMU running `test`. Returns (gdb's
    exit status, gdb's output, serial log path); QEMU is gone when it returns."""
    image = Path(image).resolve()
    kernel = Path(kernel) if kernel else image.parent / "kernel.elf"
    for path, what in ((image, "kernel image"), (kernel, "kernel ELF"),
                       (Path(cmds), "gdb script")):
        if not path.is_file():
            raise FileNotFoundError(f"gdb-batch: no {what} {path}")
    # A session file of its own, named to .gdbinit by $kev_session: batch runs side by
    # side (pytest-xdist) must not connect to each other's QEMU through the shared one.
    session = LOG.with_name(f"gdb-batch-{port}.gdb")
    write_session(kernel, port, session)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    args = qemu.qemu_args(test, image=image, disk=qemu.DISK, smp=smp,
                          extra=["-S", "-gdb", f"tcp:localhost:{port}"])
    with open(LOG, "wb") as log:
        proc = subprocess.Popen([qemu.find_qemu()] + args, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=qemu._die_with_parent(os.getpid()))
    qemu._live[proc.pid] = proc
    try:
        gdb = subprocess.run(["gdb", "-q", "-nx", "-batch",
                              "-iex", f'set $kev_session = "{session}"',
                              "-x", ".gdbinit", "-x", str(cmds)],
                             cwd=qemu.ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=timeout)
        return gdb.returncode, gdb.stdout + gdb.stderr, LOG
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        return 124, out + f"\ngdb-batch: gdb timed out after {timeout} s\n", LOG
    finally:
        qemu.stop(proc)
        session.unlink(missing_ok=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="gdb-batch", description=__doc__.splitlines()[0])
    ap.add_argument("cmds", nargs="?", help="the gdb script to run")
    ap.add_argument("--test", default="pager.boot_keos")
    ap.add_argument("--image", default=str(qemu.IMAGE), help="kernel ELF or ISO to boot")
    ap.add_argument("--kernel", help="its symbols (default: kernel.elf beside the image)")
    ap.add_argument("--write-session", action="store_true",
                    help="only write build/gdb-session.gdb for --kernel and --port")
    ap.add_argument("--check-listening", action="store_true",
                    help="only check that something (QEMU) listens on --port")
    ap.add_argument("--port", type=int, default=26000)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--smp", type=int, default=qemu.SMP)
    a = ap.parse_args(argv)
    if a.check_listening:
        if listening(a.port) is False:
            print(f"make gdb: nothing listens on localhost:{a.port}: start QEMU first with "
                  f"`make run-gdb` in another terminal (same GDBPORT), or run a script "
                  f"with `make gdb GDBCMDS=f.gdb`", file=sys.stderr)
            return 1
        return 0
    if a.write_session:
        write_session(a.kernel or Path(a.image).parent / "kernel.elf", a.port)
        return 0
    if not a.cmds:
        ap.error("give the gdb script to run")
    try:
        status, out, log = run(a.test, a.cmds, a.image, a.kernel, a.port, a.timeout, a.smp)
    except (FileNotFoundError, qemu.QemuMissing) as e:
        print(e, file=sys.stderr)
        return 2
    sys.stdout.write(out)
    print(f"gdb-batch: gdb ended with status {status}; QEMU stopped; serial log: {log}")
    return status


if __name__ == "__main__":
    sys.exit(main())

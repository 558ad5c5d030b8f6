"""Run one KeOS test selection in QEMU from the command line (`make run` calls this).

    cd grader && python3 -m harness keos.palloc            # serial output live, then verdict
    python3 -m harness --print-cmd 'keos.*'                  # the QEMU command, nothing run
    python3 -m harness --image build/solution/keos.iso 'kev.*'   # another image (env KEOS_IMAGE)
    python3 -m harness --gdb 26000 npt.simple                # paused until gdb attaches
    python3 -m harness project3                              # every graded test (rubric)

The image is the kernel ELF (booted directly, -kernel) or the GRUB ISO; by default the
one KEOS_BUILD and KEOS_BOOT name (build/kernel.elf). Exit status 0 if the verdict is
PASS, 1 otherwise, 2 if QEMU or the image is missing.
"""

import argparse
import os
import shlex
import sys

from . import faultmap, ktests, qemu, rubric
from .log import Verdict


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python3 -m harness", description=__doc__.split("\n")[0])
    ap.add_argument("test", nargs="?", default="",
                    help="test name, comma list, prefix*, or project3 (the rubric's tests; "
                         "empty: the kernel's default)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds (default 30; none with --gdb)")
    ap.add_argument("--smp", type=int, default=qemu.SMP)
    ap.add_argument("--cpu", default=None, help=f"-cpu value (default {qemu.CPU})")
    ap.add_argument("--image", "--iso", dest="image", default=os.environ.get("KEOS_IMAGE"),
                    help=f"kernel ELF or ISO to boot (env KEOS_IMAGE; default {qemu.IMAGE})")
    ap.add_argument("--disk", default=None, help=f"disk image (default {qemu.DISK})")
    ap.add_argument("--log", default=str(qemu.LOG_DIR / "cli.log"), help="serial log file")
    ap.add_argument("--gdb", type=int, metavar="PORT",
                    help="start paused, with a gdb stub on localhost:PORT")
    ap.add_argument("--print-cmd", action="store_true", help="print the QEMU command and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not echo serial output")
    ap.add_argument("extra", nargs="*", help="extra QEMU arguments (after --)")
    args = ap.parse_args(argv)
    graded = args.test == rubric.PROJECT3
    if graded:
        args.test = rubric.selection(ktests.from_sources(qemu.ROOT))
    if args.timeout is None:
        args.timeout = 7 * 24 * 3600.0 if args.gdb else \
            sum(i.timeout for i in rubric.load()) if graded else 30.0
    return args


def main(argv=None):
    args = parse_args(argv)
    files = {"image": os.path.abspath(args.image) if args.image else qemu.IMAGE,
             "disk": os.path.abspath(args.disk) if args.disk else qemu.DISK}
    extra = list(args.extra)
    if args.gdb:
        extra += ["-S", "-gdb", f"tcp:localhost:{args.gdb}"]
    if args.print_cmd:
        print(shlex.join([qemu.QEMU] + qemu.qemu_args(args.test, smp=args.smp, cpu=args.cpu,
                                                     **files, extra=extra)))
        return 0
    for path in files.values():
        if not os.path.exists(path):
            print(f"{path} does not exist: run `make` first", file=sys.stderr)
            return 2

    def echo(chunk):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()

    try:
        result = qemu.run(args.test, timeout=args.timeout, smp=args.smp, cpu=args.cpu,
                          extra=extra, log_path=args.log, **files,
                          echo=None if args.quiet else echo)
    except (qemu.QemuMissing, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: QEMU stopped, no verdict", file=sys.stderr)
        return 130
    print()
    maps = faultmap.parse(result.log_text)   # what the lazy pager did, for pager runs
    if maps:
        print("\n\n".join(faultmap.terminal(fm) for fm in maps) + "\n")
    name = result.selection or "(default tests)"
    if result.verdict == Verdict.PASS:
        print(f"{name}: PASS in {result.wall_s:.2f} s (log: {result.log_path})")
        return 0
    print(result.explain())
    return 1


if __name__ == "__main__":
    sys.exit(main())

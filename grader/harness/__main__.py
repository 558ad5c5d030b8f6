"""Run one KeOS test selection in QEMU from the command line.

    cd grader && python3 -m harness keos.palloc            # serial output live, then verdict
    python3 -m harness --print-cmd 'keos.*'                  # the QEMU command, nothing run
    python3 -m harness --iso build/solution/keos.iso 'kev.*' # another ISO (env KEOS_ISO)

Exit status 0 if the verdict is PASS, 1 otherwise.
"""

import argparse
import os
import shlex
import sys

from . import qemu
from .log import Verdict


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m harness", description=__doc__.split("\n")[0])
    ap.add_argument("test", help="test name, comma list, or prefix*")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    ap.add_argument("--smp", type=int, default=qemu.SMP)
    ap.add_argument("--cpu", default=None, help=f"-cpu value (default {qemu.CPU})")
    ap.add_argument("--iso", default=os.environ.get("KEOS_ISO"),
                    help="kernel ISO (env KEOS_ISO; default build/keos.iso)")
    ap.add_argument("--disk", default=None, help="disk image (default build/disk.img)")
    ap.add_argument("--log", default=str(qemu.LOG_DIR / "cli.log"), help="serial log file")
    ap.add_argument("--print-cmd", action="store_true", help="print the QEMU command and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not echo serial output")
    ap.add_argument("extra", nargs="*", help="extra QEMU arguments (after --)")
    args = ap.parse_args(argv)

    files = {"iso": os.path.abspath(args.iso) if args.iso else qemu.ISO,
             "disk": os.path.abspath(args.disk) if args.disk else qemu.DISK}
    if args.print_cmd:
        print(shlex.join([qemu.QEMU] + qemu.qemu_args(args.test, smp=args.smp, cpu=args.cpu,
                                                     **files,
                                                     extra=args.extra)))
        return 0

    def echo(chunk):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()

    try:
        result = qemu.run(args.test, timeout=args.timeout, smp=args.smp, cpu=args.cpu,
                          extra=args.extra, log_path=args.log,
                          **files,
                          echo=None if args.quiet else echo)
    except qemu.QemuMissing as e:
        print(e, file=sys.stderr)
        return 2
    print()
    if result.verdict == Verdict.PASS:
        print(f"{result.selection}: PASS in {result.wall_s:.2f} s (log: {result.log_path})")
        return 0
    print(result.explain())
    return 1


if __name__ == "__main__":
    sys.exit(main())

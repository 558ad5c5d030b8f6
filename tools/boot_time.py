#!/usr/bin/python3
"""Compare the direct boot with the GRUB ISO boot: QEMU start -> verdict, interleaved.

    tools/boot_time.py [-n 20] [--tests npt.simple,keos.spinlock_contention] [BUILD_DIR]

Runs each test n times per boot path, alternating direct and ISO runs, so that a busy
machine slows both alike; prints the median, min and max of each and their ratio.
Needs BUILD_DIR/kernel.elf and BUILD_DIR/keos.iso (make SOLUTION=1 BOOT=iso all).
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grader"))
from harness import qemu  # noqa: E402  (after the path fix above)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=str(qemu.BUILD / "solution"))
    ap.add_argument("-n", type=int, default=20, help="runs per test and boot path")
    ap.add_argument("--tests", default="npt.simple")
    args = ap.parse_args()
    images = {boot: os.path.join(args.build, name) for boot, name in qemu.IMAGE_NAMES.items()}
    for image in list(images.values()) + [str(qemu.DISK)]:
        if not os.path.exists(image):
            sys.exit(f"boot_time.py: {image} does not exist (make SOLUTION=1 BOOT=iso all)")
    times = {boot: [] for boot in images}
    for i in range(args.n):
        for test in args.tests.split(","):
            for boot, image in images.items():
                r = qemu.run(test, image=image, log_path=qemu.LOG_DIR / "boot_time.log")
                if str(r.verdict) != "PASS":
                    sys.exit(f"boot_time.py: {test} on {image}: {r.explain()}")
                times[boot].append(r.wall_s)
    for boot, t in times.items():
        print(f"{boot:<7} median {statistics.median(t):.3f} s  min {min(t):.3f}  "
              f"max {max(t):.3f}  ({len(t)} runs of {args.tests})")
    ratio = statistics.median(times["iso"]) / statistics.median(times["direct"])
    print(f"ISO / direct median ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()

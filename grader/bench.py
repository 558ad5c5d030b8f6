#!/usr/bin/python3
"""Time the grade: every rubric test N times, a bare boot-to-verdict, and the whole grade.

    make bench SOLUTION=1                        # the reference: the README's table
    grader/bench.py --image build/solution/kernel.elf -n 5 --only 'pager.*'

Each rubric test runs N times in its own QEMU, one at a time (so the tests do not slow
each other down); `selftest.pass` (a test that does nothing) N times gives the boot
floor, the cost of booting to a verdict; then `grade.py` runs N times as `make grade`
does. Times are wall-clock seconds from QEMU's start to the verdict. It prints a table
(Markdown, for the README) and writes build/bench.json. Exit status 1 if a run did not
pass (a failing build's times mean little), 2 if it cannot run. Timeouts are the
rubric's, times env KEOS_TIMEOUT_SCALE.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grade                                # noqa: E402  (after the path fix above)
from harness import qemu, rubric            # noqa: E402
from harness.log import Verdict             # noqa: E402

BOOT_TEST = "selftest.pass"                 # does nothing: its time is the boot floor
BOOT_TIMEOUT_S = 30
LOG_DIR = qemu.LOG_DIR / "bench"
OUT = qemu.BUILD / "bench.json"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n")[0])
    qemu.add_image_options(ap, "time")
    ap.add_argument("-n", "--runs", type=int, default=5, help="runs of each (default 5)")
    ap.add_argument("--only", metavar="PATTERN", help="rubric tests to time (glob, comma list)")
    ap.add_argument("--json", default=str(OUT), help=f"where to write (default {OUT})")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("-n must be at least 1")
    return args


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def summary(seconds):
    return {"median": round(statistics.median(seconds), 3), "min": round(min(seconds), 3),
            "max": round(max(seconds), 3), "runs": [round(s, 3) for s in seconds]}


def time_test(name, timeout, args):
    """N runs of one selection: (seconds, [runs that did not pass])."""
    seconds, wrong = [], []
    scale = float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))
    for i in range(args.runs):
        result = qemu.run(name, timeout=timeout * scale, image=Path(args.image).resolve(),
                          disk=Path(args.disk).resolve(), log_path=LOG_DIR / f"{name}.{i + 1}.log")
        seconds.append(result.wall_s)
        if result.verdict != Verdict.PASS:
            wrong.append(f"{name} run {i + 1}: {result.verdict} ({result.log_path})")
    return seconds, wrong


def time_grade(args, only):
    """N runs of grade.py: (wall seconds, ideal seconds, its jobs, [problems])."""
    walls, ideals, jobs, wrong = [], [], None, []
    out = LOG_DIR / "grade.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, grade.__file__, "--image", args.image, "--disk", args.disk,
           "--json", str(out), "-q"]
    if only:
        cmd += ["--only", only]
    for i in range(args.runs):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            wrong.append(f"grade.py run {i + 1}: status {done.returncode}\n"
                         f"{done.stdout}{done.stderr}")
            continue
        report = json.loads(out.read_text())
        walls.append(report["wall_s"])
        ideals.append(report["ideal_wall_s"])
        jobs = report["jobs"]
    return walls, ideals, jobs, wrong


def table(report):
    lines = ["| test | median s | min s | max s |", "|---|---:|---:|---:|"]
    rows = [(f"boot floor ({BOOT_TEST})", report["boot"])]
    rows += list(report["tests"].items())
    rows += [(f"`make grade` wall ({report['grade_jobs']} at a time)", report["grade"]),
             ("`make grade` ideal wall", report["grade_ideal"])]
    for name, s in rows:
        if s:
            lines.append(f"| {name} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    try:
        qemu.find_qemu()
        items = rubric.load()
    except (qemu.QemuMissing, rubric.RubricError) as e:
        print(f"bench.py: {e}", file=sys.stderr)
        return 2
    if args.only:
        items = grade.selected(items, args.only)
        if not items:
            print(f"bench.py: no rubric test matches {args.only!r}", file=sys.stderr)
            return 2
    for path in (Path(args.image), Path(args.disk)):
        if not path.exists():
            print(f"bench.py: {path} does not exist: run `make` first", file=sys.stderr)
            return 2

    start = time.monotonic()
    problems = []
    boot, wrong = time_test(BOOT_TEST, BOOT_TIMEOUT_S, args)
    problems += wrong
    tests = {}
    for item in items:
        print(f"  {item.name} x{args.runs}", file=sys.stderr, flush=True)
        seconds, wrong = time_test(item.name, item.timeout, args)
        tests[item.name] = summary(seconds)
        problems += wrong
    walls, ideals, jobs, wrong = time_grade(args, args.only)
    problems += wrong

    report = {
        "date": now(),
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "image": args.image,
        "runs": args.runs,
        "boot": summary(boot),
        "tests": tests,
        "grade_jobs": jobs,
        "grade": summary(walls) if walls else None,
        "grade_ideal": summary(ideals) if ideals else None,
        "bench_s": round(time.monotonic() - start, 1),
        "problems": problems,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")

    print(f"{report['date']}, {report['cpus']} CPUs, load average "
          f"{report['load_average_1min_at_end']} at the end, {args.runs} runs each, "
          f"{args.image}")
    print(table(report))
    print(f"(written to {args.json}; the bench took {report['bench_s']} s)")
    for p in problems:
        print(f"bench.py: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

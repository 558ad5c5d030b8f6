#!/usr/bin/python3
"""Issue 10's measured claims in one run (`make bench-claims`), on the reference solution:

* pager.stress: N runs (default 20): wall time (median, min, max) and the concurrent
  arrivals of each run (the test's concurrent_arrivals metric); the claim is a median
  of at most 2 s with arrivals > 0 in every run.
* the concurrency-bug mutants (pager_mapped_is_error, pager_leak_when_mapped: wrong only
  when two vCPUs fault on one page at once): pager.stress N times on each, built as
  test_grader_mutants.py builds them; the claim is that every run catches the bug
  (FAIL or PANIC, 0 points).
* the grade with each boot, side by side: grade.py on build/solution/kernel.elf (direct)
  and on build/solution/keos.iso (SeaBIOS and GRUB), interleaved, M runs each (default
  5); the claim is a median of at most 5 s with the direct boot, the grade's default (the
  issue: "it counts with the direct boot"). The ISO's is printed beside it as INFO.

It prints one line per claim with the numbers and writes build/bench-claims.json.
Timeouts are the rubric's, times env KEOS_TIMEOUT_SCALE. Exit status 1 if a claim does
not hold, 2 if it cannot run (no reference build: make SOLUTION=1; no ISO: make
SOLUTION=1 BOOT=iso).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

GRADER = Path(__file__).resolve().parent
sys.path.insert(0, str(GRADER))

import bench                                # noqa: E402  (after the path fix above)
import grade                                # noqa: E402
from harness import qemu, rubric            # noqa: E402
from harness.log import Verdict             # noqa: E402

STRESS = "pager.stress"
CONCURRENCY_MUTANTS = ("pager_mapped_is_error", "pager_leak_when_mapped")
STRESS_MEDIAN_S = 2.0
GRADE_MEDIAN_S = 5.0
REFERENCE = qemu.BUILD / "solution"
IMAGES = {"direct": REFERENCE / "kernel.elf", "iso": REFERENCE / "keos.iso"}
LOG_DIR = qemu.LOG_DIR / "bench-claims"
OUT = qemu.BUILD / "bench-claims.json"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench_claims.py", description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--stress-runs", type=int, default=20,
                    help="runs of pager.stress, on the reference and on each mutant (20)")
    ap.add_argument("-m", "--grade-runs", type=int, default=5,
                    help="grade.py runs with each boot (5)")
    ap.add_argument("--json", default=str(OUT), help=f"where to write (default {OUT})")
    args = ap.parse_args(argv)
    if args.stress_runs < 1 or args.grade_runs < 1:
        ap.error("-n and -m must be at least 1")
    return args


def stress_runs(image, runs, name):
    """`runs` runs of pager.stress on `image`: [(seconds, verdict, earned, arrivals)]."""
    item = next(i for i in rubric.load() if i.name == STRESS)
    scale = float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))
    out = []
    for k in range(runs):
        result = qemu.run(STRESS, timeout=item.timeout * scale, watchdog=item.budget * scale,
                          stall=qemu.STALL_S * scale, image=image, disk=qemu.DISK,
                          log_path=LOG_DIR / f"{name}.{k + 1}.log")
        arrivals = result.metrics.get((STRESS, "concurrent_arrivals"))
        out.append((result.wall_s, str(result.verdict), rubric.score(item, result).earned,
                    arrivals))
    return out


def mutant_image(name):
    import test_grader_mutants as mutants     # pytest's module: only needed here
    mutant = next(m for m in mutants.MUTANTS if m.name == name)
    image, _, error = mutants.build(mutant, mutants.tree_digest())
    if error:
        raise RuntimeError(f"{name}: {error}")
    return image


def grade_walls(runs):
    """grade.py with each boot, interleaved: {boot: [wall seconds]}, [problems]."""
    walls, problems = {boot: [] for boot in IMAGES}, []
    for k in range(runs):
        for boot, image in IMAGES.items():
            report = LOG_DIR / f"grade-{boot}.json"
            done = subprocess.run([sys.executable, grade.__file__, "--image", str(image),
                                   "--disk", str(qemu.DISK), "--json", str(report), "-q",
                                   "--expect-score", str(rubric.TOTAL)],
                                  capture_output=True, text=True,
                                  env=dict(os.environ, KEOS_LOG_DIR=str(LOG_DIR / boot)))
            if done.returncode != 0:
                problems.append(f"grade.py on {image}, run {k + 1}: status {done.returncode}"
                                f"\n{done.stdout}{done.stderr}")
                continue
            walls[boot].append(json.loads(report.read_text())["wall_s"])
    return walls, problems


def main(argv=None):
    args = parse_args(argv)
    missing = [str(p) for p in [*IMAGES.values(), qemu.DISK] if not p.exists()]
    if missing:
        print(f"bench_claims.py: missing {', '.join(missing)}: run `make SOLUTION=1` and "
              f"`make SOLUTION=1 BOOT=iso`", file=sys.stderr)
        return 2
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    claims = {}

    runs = stress_runs(IMAGES["direct"], args.stress_runs, "reference")
    seconds = [r[0] for r in runs]
    arrivals = [r[3] for r in runs]
    passed = sum(r[1] == str(Verdict.PASS) for r in runs)
    claims["stress"] = {
        "time": bench.summary(seconds), "arrivals": arrivals, "passed": passed,
        "holds": statistics.median(seconds) <= STRESS_MEDIAN_S and passed == len(runs)
        and all(a is not None and a > 0 for a in arrivals)}
    for name in CONCURRENCY_MUTANTS:
        runs = stress_runs(mutant_image(name), args.stress_runs, name)
        caught = sum(r[1] in (str(Verdict.FAIL), str(Verdict.PANIC)) and r[2] == 0
                     for r in runs)
        claims[name] = {"caught": caught, "runs": len(runs),
                        "verdicts": [r[1] for r in runs],
                        "time": bench.summary([r[0] for r in runs]),
                        "holds": caught == len(runs)}
    walls, problems = grade_walls(args.grade_runs)
    for boot, w in walls.items():
        holds = bool(w) and not problems and statistics.median(w) <= GRADE_MEDIAN_S
        claims[f"grade-{boot}"] = {"time": bench.summary(w) if w else None,
                                   "holds": holds if boot == "direct" else None}

    report = {"date": bench.now(), "cpus": os.cpu_count(),
              "load_average_1min_at_end": round(os.getloadavg()[0], 2),
              "claims": claims, "problems": problems,
              "bench_s": round(time.monotonic() - start, 1)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")

    print(f"{report['date']}, {report['cpus']} CPUs, load average "
          f"{report['load_average_1min_at_end']} at the end")
    s = claims["stress"]
    print(f"{verdict(s)}  pager.stress x{args.stress_runs}: {times(s['time'])}; concurrent "
          f"arrivals min {min(a or 0 for a in s['arrivals'])}, median "
          f"{statistics.median(a or 0 for a in s['arrivals'])}, > 0 in "
          f"{sum(bool(a) for a in s['arrivals'])}/{args.stress_runs}; {s['passed']} passed")
    for name in CONCURRENCY_MUTANTS:
        c = claims[name]
        print(f"{verdict(c)}  {name}: caught in {c['caught']}/{c['runs']} runs of "
              f"pager.stress ({times(c['time'])})")
    for boot in IMAGES:
        g = claims[f"grade-{boot}"]
        print(f"{verdict(g)}  make grade SOLUTION=1, {boot} boot, x{args.grade_runs}: "
              f"{times(g['time']) if g['time'] else 'no run completed'}")
    print(f"(written to {args.json}; took {report['bench_s']} s)")
    for p in problems:
        print(f"bench_claims.py: {p}", file=sys.stderr)
    return 0 if all(c["holds"] is not False for c in claims.values()) else 1


def verdict(claim):
    """HOLDS or FAILS; INFO for a number measured beside the claims (holds None)."""
    return {True: "HOLDS ", False: "FAILS ", None: "INFO  "}[claim["holds"]]


def times(s):
    return f"median {s['median']:.2f} s (min {s['min']:.2f}, max {s['max']:.2f})"


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Grade Project 3: run every test of grader/rubric.toml in its own QEMU and add up the points.

    make grade                                   # the student's build/kernel.elf
    grader/grade.py --image build/solution/kernel.elf --expect-score 100
    grader/grade.py --only 'pager.*' -j 1 --json out.json
    grader/grade.py --sources project3/*.c --objects build/project3/*.c.o ...
    grader/grade.py --policy-only --sources project3/*.c    # before building

With --sources (and --objects), the student files are first held to the policy
(harness/policy.py, rubric.toml [policy]): a violation is the verdict POLICY, listed with
its file, line and symbol; no test runs and the score is 0. --policy-only stops there
(exit status 1 on a violation, after printing that score), so that `make grade` does
not build files the policy refuses.

One line per test (verdict, points earned/possible, seconds, why it did not pass), then
`Score: N/100` and the wall time. The exit status is 0 whenever grading completed, whatever
the score (a score is a result, not an error); with --expect-score N it is 1 if the score
differs. 2: grading could not run (no kernel image, no QEMU, a broken rubric).
"""

import argparse
import fnmatch
import json
import os
import shlex
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import policy, qemu, report, rubric    # noqa: E402  (after the path fix above)
from harness.log import Verdict             # noqa: E402

LOG_DIR = qemu.LOG_DIR / "grade"      # env KEOS_LOG_DIR moves qemu.LOG_DIR
# Each test's seconds in the last grade of each ISO: the next grade's schedule.
TIMES = LOG_DIR / "times.json"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="grade.py", description=__doc__.split("\n")[0])
    qemu.add_image_options(ap, "grade")
    ap.add_argument("--rubric", default=str(rubric.RUBRIC), help="rubric file")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--results", metavar="FILE",
                    help="write each test's verdict, points, time, failure and log as JSON "
                         "(harness/report.py; make grade RESULTS=FILE)")
    ap.add_argument("--junit", metavar="FILE",
                    help="write the results as JUnit XML (make grade JUNIT=FILE)")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="QEMUs at a time (default 2)")
    ap.add_argument("--only", metavar="PATTERN",
                    help="grade only tests matching this glob or comma list ('pager.*')")
    ap.add_argument("--expect-score", type=int, metavar="N",
                    help="exit with status 1 unless the score is exactly N")
    ap.add_argument("--timeout-scale", type=float,
                    default=float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")),
                    help="multiply every timeout (slow machine; env KEOS_TIMEOUT_SCALE)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only the score and the wall time")
    ap.add_argument("--sources", nargs="+", default=[], metavar="FILE",
                    help="the student's C files: checked against the policy first")
    ap.add_argument("--objects", nargs="+", default=[], metavar="FILE",
                    help="their compiled objects: checked against the policy too")
    ap.add_argument("--policy-only", action="store_true",
                    help="check the policy and stop (exit status 1 on a violation)")
    # For the grader's own tests: a program to run instead of QEMU (harness/fake_qemu.py).
    ap.add_argument("--qemu", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("-j must be at least 1")
    if (args.policy_only or args.objects) and not args.sources:
        ap.error("--policy-only and --objects need --sources")
    return args


def selected(items, only):
    if not only:
        return items
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    return [i for i in items if any(fnmatch.fnmatchcase(i.name, p) for p in patterns)]


def run_one(item, args):
    """One QEMU for one test. Called from worker threads: qemu.run blocks on its own
    process only, and always stops it before returning."""
    result = qemu.run(item.name, timeout=item.timeout * args.timeout_scale,
                      watchdog=item.budget * args.timeout_scale,
                      stall=qemu.STALL_S * args.timeout_scale,
                      log_path=LOG_DIR / f"{item.name}.log",
                      qemu=shlex.split(args.qemu) if args.qemu else None,
                      image=Path(args.image).resolve(), disk=Path(args.disk).resolve())
    return result, rubric.score(item, result)


# ---- the schedule: longest first ----

def load_times(iso):
    """{test: seconds} from the last grade of `iso`; {} if there was none."""
    try:
        return json.loads(TIMES.read_text()).get(str(Path(iso).resolve()), {})
    except (OSError, ValueError, AttributeError):
        return {}


def save_times(iso, rows):
    """Remember this grade's times for the next one (a hint: a lost update is harmless)."""
    try:
        times = json.loads(TIMES.read_text())
    except (OSError, ValueError):
        times = {}
    if not isinstance(times, dict):
        times = {}
    key = str(Path(iso).resolve())
    old = times.get(key) if isinstance(times.get(key), dict) else {}
    times[key] = {**old, **{i.name: round(r.wall_s, 3) for i, r, _ in rows}}
    try:
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        tmp = TIMES.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(times, indent=1) + "\n")
        os.replace(tmp, TIMES)
    except OSError:
        pass        # the grade stands; the next one starts longest-timeout first


def longest_first(items, times):
    """Indices of `items` in the order to start them: the longest expected first, so that
    no long test starts last and runs alone, and the wall time approaches ideal_wall().
    Expected: the seconds the test took in the last grade, else its rubric timeout (a
    test never timed counts as long)."""
    return sorted(range(len(items)), key=lambda k: -times.get(items[k].name, items[k].timeout))


def ideal_wall(seconds, jobs):
    """The least wall time `jobs` workers can take for tests of these durations."""
    return max(max(seconds, default=0.0), sum(seconds) / jobs)


def line(item, result, scored):
    verdict = str(scored.verdict)
    if scored.verdict == Verdict.SKIP:
        verdict = "SKIP"            # shown, never counted as a pass
    text = (f"{item.name:<28} {verdict:<16} {scored.earned:>2}/{item.points:<2} "
            f"{result.wall_s:6.2f} s")
    return f"{text}  {scored.detail}" if scored.detail else text


def grade(items, args, out=print):
    """Run the items, `jobs` at a time; print each line in rubric order as soon as it and
    all before it are known. Returns [(item, result, scored)]."""
    rows = [None] * len(items)
    printed = 0
    order = longest_first(items, load_times(args.image))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        try:
            futures = {k: pool.submit(run_one, items[k], args) for k in order}
            for k in range(len(items)):
                result, scored = futures[k].result()
                rows[k] = (items[k], result, scored)
                while printed < len(items) and rows[printed] is not None:
                    if not args.quiet:
                        out(line(*rows[printed]))
                    printed += 1
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            qemu.stop_all()
            raise
    return rows


def check_policy(items, args):
    """The policy's violations, printed as the POLICY verdict with a score of 0 (and the
    JSON report), or [] when the student's files keep to it."""
    found = policy.check_sources(args.sources)
    if not found and args.objects:
        found = policy.check_objects(args.objects, args.sources)
    if not found:
        return []
    for v in found:
        print(f"POLICY  {v}")
    possible = sum(i.points for i in items)
    print(f"Verdict POLICY: {len(found)} violation(s) of the rules for student files "
          f"(handouts/project3.md, \"You may call\"); no test ran.")
    print(f"Score: 0/{possible}")
    if args.json:
        report = {"image": str(args.image), "score": 0, "possible": possible, "verdict": "POLICY",
                  "policy": [vars(v) for v in found],
                  "tests": [{"name": i.name, "verdict": "POLICY", "points": i.points,
                             "earned": 0, "seconds": 0, "detail": str(found[0]), "log": None}
                            for i in items]}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return found


def to_json(rows, args, earned, possible, wall_s, ideal_s):
    return {
        "image": str(args.image),
        "score": earned,
        "possible": possible,
        "wall_s": round(wall_s, 3),
        "ideal_wall_s": round(ideal_s, 3),
        "jobs": args.jobs,
        "tests": [{
            "name": item.name,
            "verdict": str(scored.verdict),
            "points": item.points,
            "earned": scored.earned,
            "seconds": round(result.wall_s, 3),
            "detail": scored.detail,
            "log": result.log_path,
        } for item, result, scored in rows],
    }


def interrupted_once(signum, frame):
    """SIGINT's handler: KeyboardInterrupt, and every later SIGINT ignored. official.py
    forwards the Ctrl-C that its process group (this process included) already got; a
    second KeyboardInterrupt would cut grade()'s cleanup short, and the pool would then
    wait for a hung test's QEMU to reach its budget."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv=None):
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not under nohup
        signal.signal(signal.SIGINT, interrupted_once)
    args = parse_args(argv)
    try:
        items = selected(rubric.load(args.rubric), args.only)
        if args.sources and check_policy(items, args):
            return 1 if args.policy_only or args.expect_score not in (None, 0) else 0
        if args.policy_only:
            return 0
        if not args.qemu:
            qemu.find_qemu()
    except (rubric.RubricError, qemu.QemuMissing, OSError) as e:
        print(f"grade.py: {e}", file=sys.stderr)
        return 2
    if not items:
        print(f"grade.py: no rubric test matches {args.only!r}", file=sys.stderr)
        return 2
    for path, how in ((args.image, "make"), (args.disk, "make")):
        if not Path(path).exists():
            print(f"grade.py: {path} does not exist: run `{how}` first", file=sys.stderr)
            return 2

    start = time.monotonic()
    try:
        rows = grade(items, args)
    except KeyboardInterrupt:
        print("grade.py: interrupted; no score", file=sys.stderr)
        return 130
    wall_s = time.monotonic() - start
    save_times(args.image, rows)
    ideal_s = ideal_wall([r.wall_s for _, r, _ in rows], args.jobs)

    earned = sum(s.earned for _, _, s in rows)
    possible = sum(i.points for i in items)
    skipped = [i.name for i, _, s in rows if s.verdict == Verdict.SKIP]
    if skipped:
        print(f"Note: {len(skipped)} test(s) could not be graded on this machine and earn "
              f"nothing here: {', '.join(skipped)}")
    forged = [i.name for i, _, s in rows if s.verdict == Verdict.FORGED]
    if forged:
        print(f"Marked for review: {len(forged)} test(s) FORGED (something other than the "
              f"test runner claimed a verdict): {', '.join(forged)}")
    partial = f" (only {args.only})" if args.only else ""
    print(f"Score: {earned}/{possible}{partial}")
    print(f"Wall time: {wall_s:.1f} s for {len(rows)} tests, {args.jobs} at a time "
          f"(ideal {ideal_s:.1f} s: the longest test, or the sum of all / {args.jobs}); "
          f"logs in {LOG_DIR}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_json(rows, args, earned, possible, wall_s, ideal_s), f, indent=1)
            f.write("\n")
    if args.results:
        report.write_json(args.results, report.results(rows, wall_s))
    if args.junit:
        Path(args.junit).write_text(report.junit(rows, wall_s))
    if args.expect_score is not None and earned != args.expect_score:
        print(f"grade.py: expected a score of {args.expect_score}, got {earned}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Gradescope: the autograder zip, and official results in Gradescope's results.json format.

    grader/gradescope.py zip build/gradescope/autograder.zip    # make gradescope
    grader/gradescope.py results official.json results.json     # run_autograder does this

The zip holds, at its root, `setup.sh` (tools/install-deps.sh's Ubuntu packages, then the
course built once into the image), `run_autograder`, and `course/`: the course at HEAD
without the reference solution (official.py's NOT_IN_COURSE). `run_autograder` grades
$AUTOGRADER_ROOT/submission (default /autograder) officially and writes
$AUTOGRADER_ROOT/results/results.json: the score, the execution time, a message for the
whole submission, and per rubric test its name, number, score, max_score, status, output
(the first failure and the end of its log) and visibility. A submission that is refused or
does not build, or a run that does not finish, still gets a valid file: every test at 0,
and the reason in the output. Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import official                      # noqa: E402  (after the path fix above)
from harness import report, rubric  # noqa: E402
from harness.paths import ROOT      # noqa: E402

LOG_EXCERPT_LINES = 15
VISIBILITY = "visible"        # tests and the top-level output; "after_published" hides them
STDOUT_VISIBILITY = "hidden"  # run_autograder's own output: for the staff
# Seconds official.py may take in total; Gradescope's own limit (10 min by default) must be
# larger, or Gradescope kills the run before results.json is written.
RUN_LIMIT_S = 480

SETUP_SH = """#!/bin/bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 24.04:
# the grader needs Python 3.11 or later).
set -euo pipefail
cd "$(dirname "$0")"
sh course/tools/install-deps.sh
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup.sh: python3 is older than 3.11: choose the Ubuntu 24.04 base image" >&2; exit 1; }
python3 course/grader/official.py --prepare-only - --course course --cache cache
"""

RUN_AUTOGRADER = f"""#!/bin/bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT moves /autograder (tests).
ROOT=${{AUTOGRADER_ROOT:-/autograder}}
SRC=$ROOT/source
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/official.json"
timeout -s INT -k 20 {RUN_LIMIT_S} python3 "$SRC/course/grader/official.py" "$ROOT/submission" \\
    --course "$SRC/course" --cache "$SRC/cache" --out "$ROOT/results/official.json" \\
    --logs "$ROOT/results/logs" --work "$ROOT/work" -j 2
echo "official.py: status $?"
exec python3 "$SRC/course/grader/gradescope.py" results "$ROOT/results/official.json" \\
    "$ROOT/results/results.json" --course "$SRC/course" --limit {RUN_LIMIT_S}
"""


def log_excerpt(path, lines=LOG_EXCERPT_LINES):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except (OSError, TypeError):
        return ""
    return "\n".join(text[-lines:])


def number(items, name):
    """'part.k': the rubric's groups in order (npt 1, mmio 2, pager 3), tests within."""
    groups = list(dict.fromkeys(i.name.split(".")[0] for i in items))
    group = name.split(".")[0]
    within = [i.name for i in items if i.name.startswith(group + ".")]
    return f"{groups.index(group) + 1}.{within.index(name) + 1}"


def test_entry(items, item, graded, reason):
    t = graded.get(item.name)
    if t is None:
        return {"name": item.name, "number": number(items, item.name), "score": 0.0,
                "max_score": float(item.points), "status": "failed",
                "output": f"not graded: {reason}", "visibility": VISIBILITY}
    passed = t["verdict"] == "PASS"
    output = t["verdict"] + (f": {t['failure']}" if t["failure"] else "")
    if not passed:
        excerpt = log_excerpt(t.get("log"))
        if excerpt:
            output += f"\n\nEnd of the serial log:\n{excerpt}"
    return {"name": item.name, "number": number(items, item.name), "score": float(t["points"]),
            "max_score": float(t["max"]), "status": "passed" if passed else "failed",
            "output": output, "visibility": VISIBILITY}


def results(official_json, items, limit_s=None):
    """Gradescope's results.json dict for official.py's result (a dict, or None when
    official.py left none)."""
    if official_json is None:
        reason = "grading did not finish" + (f" within {limit_s:g} s" if limit_s else "") + \
            " (the kernel hung or the machine is overloaded): 0 points; ask the staff to " \
            "regrade"
        official_json = {"verdict": "TIMEOUT", "message": reason, "tests": [], "files": [],
                         "ignored": [], "score": 0, "wall_s": limit_s or 0}
    r = official_json
    graded = {t["name"]: t for t in r.get("tests", [])}
    lines = [f"{r['verdict']}: {r['message']}"]
    lines += [f"graded {f['path']} (sha256 {f['sha256'][:16]})" for f in r.get("files", [])]
    if r.get("ignored"):
        lines.append("not graded (only the student files count): " + ", ".join(r["ignored"]))
    score = float(r["score"]) if r["verdict"] == official.GRADED else 0.0
    return {
        "score": score,
        "execution_time": int(round(r.get("wall_s") or 0)),
        "output": "\n".join(lines),
        "visibility": VISIBILITY,
        "stdout_visibility": STDOUT_VISIBILITY,
        "tests": [test_entry(items, i, graded if r["verdict"] == official.GRADED else {},
                             r["message"].splitlines()[0] if r["message"] else r["verdict"])
                  for i in items],
    }


def write_results(official_path, out_path, course, limit_s):
    try:
        data = json.loads(Path(official_path).read_text())
    except (OSError, ValueError):
        data = None
    items = rubric.load(Path(course) / "grader" / "rubric.toml")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    report.write_json(out_path, results(data, items, limit_s))


def make_zip(out):
    """autograder.zip: setup.sh, run_autograder and course/ at the root."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    commit = official.git("rev-parse", "--verify", "HEAD^{commit}").decode().strip()
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        official.export_course(commit, course)
        (course / "COURSE_COMMIT").write_text(commit + "\n")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text)
            for path in sorted(course.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(tmp).as_posix())
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, path.read_bytes())
    return out, commit


def main(argv=None):
    ap = argparse.ArgumentParser(prog="gradescope.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    z = sub.add_parser("zip", help="build the autograder zip")
    z.add_argument("out", nargs="?", default=str(ROOT / "build" / "gradescope" /
                                                 "autograder.zip"))
    r = sub.add_parser("results", help="official.py's JSON to Gradescope's results.json")
    r.add_argument("official_json")
    r.add_argument("results_json")
    r.add_argument("--course", default=str(ROOT), help="the course copy (rubric)")
    r.add_argument("--limit", type=float, help="the time official.py was given (seconds)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "zip":
            out, commit = make_zip(args.out)
            print(f"Wrote {out} (course at {commit[:12]}): upload it as the autograder of a "
                  "Gradescope programming assignment (Ubuntu 24.04 base image)")
        else:
            write_results(args.official_json, args.results_json, args.course, args.limit)
    except (official.GraderError, rubric.RubricError, OSError, subprocess.SubprocessError) as e:
        print(f"gradescope.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

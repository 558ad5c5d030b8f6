"""grade.py (`make grade`) on the fake QEMU: scores and why, options and exit statuses,
forgeries, the order tests start in, remembered times, and a rubric that is not 100."""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest

from harness import qemu as hq
from harness.fakes import FAKE_QEMU, FAKE_RUBRIC
from harness.paths import GRADER
from harness.rubric import Item


GRADE = GRADER / "grade.py"
def grade(tmp_path, *args):
    rubric_file = tmp_path / "rubric.toml"
    if not rubric_file.exists():
        rubric_file.write_text(FAKE_RUBRIC)
    env = dict(os.environ, KEOS_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([sys.executable, str(GRADE), "--rubric", str(rubric_file),
                           "--qemu", shlex.join(FAKE_QEMU), *map(str, args)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=hq.ROOT)


def test_grade_scores_and_shows_why(tmp_path):
    start = time.monotonic()
    done = grade(tmp_path, "--json", tmp_path / "out.json", "-j", "2")
    took = time.monotonic() - start
    out = done.stdout
    assert done.returncode == 0, "a score is a result, not an error:\n" + out + done.stderr
    lines = {l.split()[0]: l for l in out.splitlines() if l.startswith("fake.")}
    assert lines["fake.pass"].split()[1:3] == ["PASS", "50/50"], out
    assert lines["fake.fail"].split()[1:3] == ["FAIL", "0/20"], out
    assert "kev/npt.c:42: CHECK_EQ(pte & PTE_P, PTE_P)" in lines["fake.fail"]
    assert lines["fake.skip"].split()[1:3] == ["SKIP", "0/10"], out
    assert "could not be graded on this machine: needs 2 CPUs" in lines["fake.skip"]
    assert lines["fake.notimpl"].split()[1:3] == ["NOT-IMPLEMENTED", "0/10"], out
    assert "npt_map (project3/npt.c:17)" in lines["fake.notimpl"]
    assert lines["fake.hang"].split()[1:3] == ["TIMEOUT", "0/10"], out
    assert "Score: 50/100" in out and "could not be graded on this machine" in out
    assert took < 15, f"grading 5 fake tests took {took:.1f} s"
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["score"] == 50 and report["possible"] == 100
    assert {t["name"]: t["earned"] for t in report["tests"]} == {
        "fake.pass": 50, "fake.fail": 0, "fake.skip": 0, "fake.notimpl": 0, "fake.hang": 0}
    assert hq.live_pids() == []


@pytest.mark.parametrize("args, status, score", [
    (["--expect-score", "50", "-j", "1"], 0, "Score: 50/100"),
    (["--expect-score", "100"], 1, "Score: 50/100"),
    (["--only", "fake.pass,fake.f*"], 0, "Score: 50/70 (only fake.pass,fake.f*)"),
    (["--only", "nothing.*"], 2, None),
])
def test_grade_options_and_exit_status(tmp_path, args, status, score):
    done = grade(tmp_path, *args)
    assert done.returncode == status, done.stdout + done.stderr
    if score:
        assert score in done.stdout, done.stdout


def test_grade_marks_forgeries_for_review(tmp_path):
    (tmp_path / "rubric.toml").write_text(
        '[tests."fake.pass"]\npoints = 90\n[tests."fake.forged_console"]\npoints = 10\n')
    done = grade(tmp_path)
    lines = {l.split()[0]: l for l in done.stdout.splitlines() if l.startswith("fake.")}
    assert lines["fake.forged_console"].split()[1:3] == ["FORGED", "0/10"], done.stdout
    assert "marked for review: forged verdict line in the console output: 'TEST-PASS" \
        in lines["fake.forged_console"]
    assert "Marked for review: 1 test(s) FORGED" in done.stdout
    assert "Score: 90/100" in done.stdout and done.returncode == 0


def load_grade_py():
    spec = importlib.util.spec_from_file_location("grade", GRADE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grade_starts_the_longest_test_first():
    gp = load_grade_py()
    items = [Item("a.short", 10, 20.0), Item("a.untimed", 10, 20.0),
             Item("a.long", 10, 20.0), Item("a.mid", 10, 60.0)]
    times = {"a.short": 0.5, "a.long": 3.0, "a.mid": 1.0}
    order = [items[k].name for k in gp.longest_first(items, times)]
    assert order == ["a.untimed", "a.long", "a.mid", "a.short"], \
        "recorded seconds first, else the rubric timeout (never timed counts as long)"
    assert [items[k].name for k in gp.longest_first(items, {})][0] == "a.mid", \
        "with no record the longest timeout starts first"
    assert gp.ideal_wall([3.0, 1.0, 1.0], 2) == 3.0
    assert gp.ideal_wall([2.0, 2.0, 2.0, 2.0], 2) == 4.0


def test_grade_remembers_times_and_reports_the_ideal_wall(tmp_path):
    done = grade(tmp_path, "--json", tmp_path / "out.json", "--only", "fake.pass,fake.fail")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Wall time: [0-9.]+ s for 2 tests, 2 at a time \(ideal [0-9.]+ s",
                     done.stdout), done.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    assert 0 < report["ideal_wall_s"] <= report["wall_s"] + 0.5, report
    times = json.loads((tmp_path / "logs" / "grade" / "times.json").read_text())
    assert [set(t) for t in times.values()] == [{"fake.pass", "fake.fail"}], times
    grade(tmp_path, "--only", "fake.skip")
    times = json.loads((tmp_path / "logs" / "grade" / "times.json").read_text())
    assert [set(t) for t in times.values()] == [{"fake.pass", "fake.fail", "fake.skip"}], \
        "a partial grade adds to the record of the ISO"


def test_grade_refuses_a_rubric_that_is_not_100(tmp_path):
    (tmp_path / "rubric.toml").write_text(FAKE_RUBRIC.replace("points = 50", "points = 49"))
    done = grade(tmp_path)
    assert done.returncode == 2 and "sum to 99, not 100" in done.stderr, done.stderr

"""Project 3's rubric (grader/rubric.toml) as pytest tests: one QEMU per rubric test, with
the rubric's timeout, scored by the same rules as grade.py (harness/rubric.py).

The rubric's tests run once per kernel image, through grade.py end to end as `make grade`
runs them (one QEMU per test); the per-test checks read its rows, and rerun a test alone
only when it did not end as expected, for its own report.

* test_reference: the reference solution (build/solution/kernel.elf) earns every point;
  this is `make check`'s proof that the reference scores 100/100.
* test_student: project3/*.c, whatever they hold, under the rubric: a test passes when
  the code passes it, and a test that still reaches a TODO() is an xfail ("not
  implemented"), as in test_npt_host.py. The same check in every copy: in the course's
  tree, where project3/*.c are the stubs, every one is an xfail; in a student's copy it
  is their progress.
* test_handout: the course hands out stubs (project3/*.c of the course's tree), and every
  rubric test stops at one of their TODO()s: NOT-IMPLEMENTED with the function's name,
  none TIMEOUT, none FAIL, score 0. It checks the course's tree, which has solution/; a
  student's copy (no solution/) holds their work instead, and the test skips there.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import Verdict, ktests, plugin, qemu, rubric
from harness.paths import ROOT
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE

ITEMS = rubric.load()
PROJECT3_GROUPS = ("npt", "mmio", "pager")


def by_name(items):
    return pytest.mark.parametrize("item", items, ids=[i.name for i in items])


def test_rubric_totals_100_and_names_real_tests():
    assert sum(i.points for i in ITEMS) == rubric.TOTAL
    names = [i.name for i in ITEMS]
    assert len(set(names)) == len(names), "a test is listed twice"
    defined = ktests.from_sources(ROOT, dirs=("project3",))
    unknown = sorted(set(names) - set(defined))
    assert not unknown, f"rubric tests that no KTEST() defines: {unknown}"
    # Every Project 3 test counts for something: none is silently left out of the score.
    ungraded = sorted(n for n in defined
                      if n.split(".")[0] in PROJECT3_GROUPS and n not in names)
    assert not ungraded, f"Project 3 tests missing from rubric.toml: {ungraded}"


def test_rubric_rejects_a_bad_total(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text('[tests."npt.simple"]\npoints = 99\n')
    with pytest.raises(rubric.RubricError, match="sum to 99"):
        rubric.load(bad)


def graded(request, image):
    """grade.py end to end on `image`, as `make grade` runs it (the policy on the student's
    files and their objects included), once per session (xdist
    workers share it): {"status", "out" (its output), "rows" ({test: its JSON row}),
    "score"}. The per-test checks below read their rows; a test that did not end as
    expected runs again alone, for its own report."""
    image = Path(image).resolve()
    student_dir = (SOLUTION_DIR if image == SOLUTION_IMAGE.resolve() else ROOT) / "project3"
    sources = [student_dir / n for n in ("mmio.c", "npt.c", "pager.c")]
    objects = [image.parent / f"{s.relative_to(ROOT)}.o" for s in sources]

    def run():
        # Logs of their own: the grade.py runs of the two images may go on at once (xdist).
        logs = qemu.LOG_DIR / f"grade-for-{plugin.log_name(plugin._short(image))}"
        report = logs / "grade.json"
        report.unlink(missing_ok=True)
        env = dict(os.environ, KEOS_LOG_DIR=str(logs))
        scale = request.config.getoption("keos_timeout_scale")
        proc = subprocess.run([sys.executable, str(ROOT / "grader" / "grade.py"),
                               "--image", str(image), "--json", str(report),
                               "--timeout-scale", str(scale),
                               "--sources", *map(str, sources), "--objects", *map(str, objects)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        data = json.loads(report.read_text()) if report.exists() else {}
        return {"status": proc.returncode, "out": proc.stdout + proc.stderr,
                "rows": {t["name"]: t for t in data.get("tests", [])},
                "score": data.get("score")}
    return plugin.once_per_session(request.config, ("grade", str(image)), run)


@pytest.mark.kernel
@by_name(ITEMS)
def test_reference(request, keos_solution, item):
    row = graded(request, SOLUTION_IMAGE)["rows"].get(item.name)
    if row and row["verdict"] == str(Verdict.PASS) and row["earned"] == item.points:
        return
    result = keos_solution(item.name, timeout=item.timeout)
    result.expect_pass()            # SKIP (this machine cannot grade it) skips here
    scored = rubric.score(item, result)
    assert scored.earned == item.points, \
        f"the reference earns {scored.earned}/{item.points}: {scored.verdict} " \
        f"{scored.detail}\n{result.explain()}"
    pytest.fail(f"{item.name} passes alone but not in make grade: {row}", pytrace=False)


needs_course_tree = pytest.mark.skipif(
    not SOLUTION_DIR.is_dir(), reason="a student's copy (no solution/): project3/*.c "
    "is the student's work, not the course's stubs (test_student shows its progress)")


@pytest.mark.kernel
@by_name(ITEMS)
def test_student(request, keos, item):
    row = graded(request, qemu.IMAGE)["rows"].get(item.name)
    if row and row["verdict"] == str(Verdict.NOT_IMPLEMENTED) and row["detail"]:
        assert row["earned"] == 0, row
        pytest.xfail(f"not implemented: {row['detail']}")
    if row and row["verdict"] == str(Verdict.PASS) and row["earned"] == item.points:
        return
    result = keos(item.name, timeout=item.timeout)
    if result.verdict == Verdict.NOT_IMPLEMENTED:
        pytest.xfail(f"not implemented: {rubric.detail(result)}")
    result.expect_pass()
    pytest.fail(f"{item.name} passes alone but not in make grade: {row}", pytrace=False)


@pytest.mark.kernel
@needs_course_tree
@by_name(ITEMS)
def test_handout(request, keos, item):
    row = graded(request, qemu.IMAGE)["rows"].get(item.name)
    if row and row["verdict"] == str(Verdict.NOT_IMPLEMENTED) and row["detail"]:
        assert row["earned"] == 0, row
        return
    result = keos(item.name, timeout=item.timeout)
    result.expect(Verdict.NOT_IMPLEMENTED)
    assert result.not_implemented, f"no function named in the stub's report\n{result.explain()}"
    assert rubric.score(item, result).earned == 0
    pytest.fail(f"{item.name} ends as expected alone but not in make grade: {row}",
                pytrace=False)


@pytest.mark.kernel
@pytest.mark.skipif(not SOLUTION_DIR.is_dir(), reason="no solution/ in this copy")
def test_make_grade_reference_scores_100(request):
    grade = graded(request, SOLUTION_IMAGE)
    out = grade["out"]
    assert grade["status"] == 0 and "Score: 100/100" in out, out
    assert "NOT-IMPLEMENTED" not in out and "TIMEOUT" not in out, out


@pytest.mark.kernel
@needs_course_tree
def test_make_grade_handout_scores_0(request):
    grade = graded(request, qemu.IMAGE)
    out = grade["out"]
    assert grade["status"] == 0 and "Score: 0/100" in out, out
    # Every rubric line says which function is missing; nothing hangs.
    assert out.count("NOT-IMPLEMENTED") == len(ITEMS), out
    assert "TIMEOUT" not in out, out

"""Project 3's rubric (grader/rubric.toml) as pytest tests: one QEMU per rubric test, with
the rubric's timeout, scored by the same rules as grade.py (harness/rubric.py).

* test_reference: the reference solution (build/solution/kernel.elf) earns every point;
  this is `make check`'s proof that the reference scores 100/100.
* test_handout: where solution/ exists (the course's own tree), project3/*.c must be the
  handed-out stubs, so every rubric test stops at a TODO(): NOT-IMPLEMENTED with the
  function's name, none TIMEOUT, none FAIL, score 0. In a student's copy (no solution/)
  the same test is the student's progress: it passes when their code passes, and a test
  that still reaches a TODO() is an xfail ("not implemented"), as in test_npt_host.py.
"""

from pathlib import Path

import pytest

from harness import Verdict, ktests, rubric
from harness import qemu
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.kernel
@by_name(ITEMS)
def test_reference(keos_solution, item):
    result = keos_solution(item.name, timeout=item.timeout)
    result.expect_pass()            # SKIP (this machine cannot grade it) skips here
    scored = rubric.score(item, result)
    assert scored.earned == item.points, \
        f"the reference earns {scored.earned}/{item.points}: {scored.verdict} " \
        f"{scored.detail}\n{result.explain()}"


@pytest.mark.kernel
@by_name(ITEMS)
def test_handout(keos, item):
    result = keos(item.name, timeout=item.timeout)
    if not SOLUTION_DIR.is_dir():   # a student's copy: their own code is under test
        if result.verdict == Verdict.NOT_IMPLEMENTED:
            pytest.xfail(f"not implemented: {rubric.detail(result)}")
        result.expect_pass()
        return
    result.expect(Verdict.NOT_IMPLEMENTED)
    assert result.not_implemented, f"no function named in the stub's report\n{result.explain()}"
    assert rubric.score(item, result).earned == 0


def run_grade(image, expect, student_dir):
    """grade.py end to end, as `make grade` runs it (the policy on the student's files and
    their objects included): its lines and its Score."""
    import os
    import subprocess
    import sys
    sources = [student_dir / n for n in ("mmio.c", "npt.c", "pager.c")]
    objects = [image.parent / f"{s.relative_to(ROOT)}.o" for s in sources]
    # Logs of their own: the two grade.py runs may go on at once (xdist).
    env = dict(os.environ, KEOS_LOG_DIR=str(qemu.LOG_DIR / f"grade-for-{expect}"))
    proc = subprocess.run([sys.executable, str(ROOT / "grader" / "grade.py"), "--image", str(image),
                           "--expect-score", str(expect), "--sources", *map(str, sources),
                           "--objects", *map(str, objects)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"grade.py on {image} did not score {expect}:\n{out}"
    assert f"Score: {expect}/100" in out, out
    return out


@pytest.mark.kernel
def test_make_grade_reference_scores_100():
    if not SOLUTION_DIR.is_dir():
        pytest.skip("no solution/ in this copy")
    out = run_grade(SOLUTION_IMAGE, 100, SOLUTION_DIR / "project3")
    assert "NOT-IMPLEMENTED" not in out and "TIMEOUT" not in out, out


@pytest.mark.kernel
def test_make_grade_handout_scores_0():
    if not SOLUTION_DIR.is_dir():
        pytest.skip("a student's copy: the score is theirs, not 0")
    out = run_grade(qemu.IMAGE, 0, ROOT / "project3")
    # Every rubric line says which function is missing; nothing hangs.
    assert out.count("NOT-IMPLEMENTED") == len(ITEMS), out
    assert "TIMEOUT" not in out, out

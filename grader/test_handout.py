"""The student handout (`make handout`, tools/mkhandout.sh): exported from HEAD without
solution/ and the mutants, checked for leaked reference code, and buildable."""

import subprocess

import pytest

from harness.paths import ROOT


def test_handout_has_no_solution_and_builds(tmp_path):
    if not (ROOT / "solution").is_dir():
        pytest.skip("this copy is already a handout")
    out = tmp_path / "handout"
    done = subprocess.run(["tools/mkhandout.sh", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"mkhandout failed:\n{done.stdout}\n{done.stderr}"
    assert not (out / "solution").exists()
    assert not (out / "grader" / "mutants").exists()
    assert not (out / "grader" / "policy_fixtures").exists()    # a second solution
    # The stubs are what the students get.
    for name in ("npt.c", "mmio.c", "pager.c"):
        assert "TODO()" in (out / "project3" / name).read_text(), name

"""The C sources follow the project's .clang-format (what `clang-format -i` would write)."""

import shutil
import subprocess

import pytest

from harness.paths import ROOT

DIRS = ("keos", "kev", "project3", "solution", "guests", "tools", "grader/policy_fixtures")


def c_sources():
    return sorted(p for d in DIRS for p in (ROOT / d).rglob("*") if p.suffix in (".c", ".h"))


@pytest.mark.skipif(not shutil.which("clang-format"), reason="clang-format is not installed")
def test_c_sources_are_clang_formatted():
    files = [str(p.relative_to(ROOT)) for p in c_sources()]
    done = subprocess.run(["clang-format", "--style=file", "--dry-run", "-Werror", *files],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, "run `clang-format -i` on these:\n" + done.stderr[-3000:]

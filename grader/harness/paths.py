"""Where the course is: the one definition of ROOT (the repository, the handout copy, or
Gradescope's /autograder/source/course) for every script and test.

The standalone scripts (official.py, grade.py, ...) put grader/ on sys.path first and
then import this like the tests do:  from harness.paths import ROOT
"""

import os
from pathlib import Path, PurePath

GRADER = Path(__file__).resolve().parents[1]    # grader/: this package's parent
ROOT = GRADER.parent
# make's -j for the builds the grader runs (a course version, a submission, an image for
# the tests): one job per CPU. The course's Makefile builds the same bytes either way.
MAKE_JOBS = f"-j{os.cpu_count() or 1}"
# What running the grader writes into a tree (Python's bytecode, pytest's cache; .gitignore):
# never course content, so no digest, copy or comparison of a tree takes it. (A machine
# that writes bytecode, as Python does unless PYTHONDONTWRITEBYTECODE is set, would
# otherwise see its tree change the first time it runs a test.)
CACHES = ("__pycache__", ".pytest_cache")


def is_cache(rel):
    """Is the relative path `rel` inside one of CACHES?"""
    return any(part in CACHES for part in PurePath(rel).parts)

"""Project 3's rubric (grader/rubric.toml): which kernel test earns how many points.

    items = rubric.load()                    # [Item(name, points, timeout, budget)], checked
    files = rubric.student_files()           # ["project3/npt.c", ...], what a student writes
    line = rubric.score(item, result)        # Scored(verdict, earned, detail)
    sel = rubric.selection(kernel_tests)     # `make run TEST=project3`: every graded test

Only PASS earns points. The same rules serve grade.py (`make grade`) and
test_project3.py, so the pytest view and the score cannot disagree.
"""

import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath

from . import ktests, qemu
from .log import Verdict
from .paths import GRADER
from .where import panic_detail, timeout_detail

RUBRIC = GRADER / "rubric.toml"
TOTAL = 100
# The kernel watchdog's budget for a test (keos/watchdog.c): its reference time (ref_ms
# in the rubric) times BUDGET_FACTOR, at least BUDGET_FLOOR_S; it must end BOOT_MARGIN_S
# before the host's timeout, so that the kernel's report comes first.
BUDGET_FACTOR = 10
BUDGET_FLOOR_S = 2.0
BOOT_MARGIN_S = 5.0
# `make run TEST=project3`: the rubric's tests in one boot (not selftest.*, not keos.*).
PROJECT3 = "project3"


class RubricError(Exception):
    pass


@dataclass(frozen=True)
class Item:
    name: str       # kernel test name, "group.name"
    points: int
    timeout: float  # seconds, boot included
    budget: float = BUDGET_FLOOR_S  # seconds of kernel time for the test itself (watchdog)


@dataclass
class Scored:
    verdict: Verdict
    earned: int
    detail: str     # why it did not pass (the failed check, the stub, the reason to skip)


def budget_for(ref_ms, timeout):
    """The watchdog's budget in seconds: BUDGET_FACTOR x ref_ms, at least the floor, but
    within the timeout (the floor gives way to a timeout shorter than itself)."""
    budget = max(BUDGET_FLOOR_S, BUDGET_FACTOR * ref_ms / 1000)
    return min(budget, max(timeout - BOOT_MARGIN_S, timeout * qemu.WATCHDOG_SHARE))


def load(path=RUBRIC):
    """The rubric's items in file order; RubricError if it is malformed or its points do
    not sum to 100."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    default_timeout = data.get("defaults", {}).get("timeout", 20)
    items = []
    for name, entry in data.get("tests", {}).items():
        points = entry.get("points")
        timeout = entry.get("timeout", default_timeout)
        if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
            raise RubricError(f"{path}: {name}: points must be a positive integer")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise RubricError(f"{path}: {name}: timeout must be a positive number")
        if "." not in name:
            raise RubricError(f"{path}: {name}: test names are group.name")
        ref_ms = entry.get("ref_ms", 0)
        if not isinstance(ref_ms, (int, float)) or ref_ms < 0:
            raise RubricError(f"{path}: {name}: ref_ms must be a number of milliseconds")
        if ref_ms and BUDGET_FACTOR * ref_ms / 1000 > timeout - BOOT_MARGIN_S:
            raise RubricError(f"{path}: {name}: ref_ms {ref_ms} x {BUDGET_FACTOR} leaves "
                              f"under {BOOT_MARGIN_S:g} s of the {timeout:g} s timeout")
        budget = budget_for(ref_ms, timeout)
        items.append(Item(name, points, float(timeout), budget))
    total = sum(i.points for i in items)
    if total != TOTAL:
        raise RubricError(f"{path}: the points sum to {total}, not {TOTAL}")
    return items


def selection(kernel_tests, path=RUBRIC):
    """The kernel selection that runs exactly the rubric's tests: "group.*" for a group
    whose kernel tests are all graded, else the graded names one by one (the kernel reads
    at most 255 bytes of selection, keos/main.c)."""
    graded = [i.name for i in load(path)]
    parts = []
    for group in dict.fromkeys(n.split(".")[0] for n in graded):
        if set(ktests.in_group(kernel_tests, group)) <= set(graded):
            parts.append(group + ".*")
        else:
            parts += ktests.in_group(graded, group)
    return ",".join(parts)


def student_files(path=RUBRIC):
    """The files a student may change ([submission] student_files): relative, normalized
    paths with no '..'. The official grade takes these from a submission and nothing else."""
    with open(path, "rb") as f:
        files = tomllib.load(f).get("submission", {}).get("student_files")
    if not isinstance(files, list) or not files or \
            not all(isinstance(f, str) and f for f in files):
        raise RubricError(f"{path}: [submission] student_files must be a list of paths")
    for name in files:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or str(p) != name:
            raise RubricError(f"{path}: student file {name!r} is not a plain relative path")
    if len(set(files)) != len(files):
        raise RubricError(f"{path}: a student file is listed twice")
    return files


def detail(result, name=None):
    """One line saying why a run did not pass (empty for a pass)."""
    v = result.verdict
    if v == Verdict.PASS:
        return ""
    if v == Verdict.FAIL:
        outcome = result.tests.get(name) if name else None
        return (outcome.failure if outcome and outcome.failure else result.failure) or \
            (result.note or "failed")
    if v == Verdict.PANIC:
        return f"panic: {panic_detail(result)}" if result.panic else (result.note or "panic")
    if v == Verdict.NOT_IMPLEMENTED:
        at = f" ({result.log.not_implemented_at})" if result.log.not_implemented_at else ""
        return f"{result.not_implemented}{at}"
    if v == Verdict.SKIP:
        why = "; ".join(result.skipped.values()) or result.note
        return f"could not be graded on this machine: {why}"
    if v == Verdict.TIMEOUT:
        return timeout_detail(result) or f"no verdict within {result.timeout_s:g} s"
    if v == Verdict.UNSUPPORTED:
        return f"this CPU has no {result.unsupported}" if result.unsupported else result.note
    return result.note or str(v)


def score(item, result):
    """Points for one rubric item from the run that selected exactly that test. The run
    must PASS and the named test itself must be among its passes."""
    outcome = result.tests.get(item.name)
    passed = result.verdict == Verdict.PASS and outcome is not None and \
        outcome.verdict == Verdict.PASS
    if result.verdict == Verdict.PASS and not passed:
        return Scored(Verdict.ERROR, 0, f"{item.name} did not run (no such test?)")
    return Scored(result.verdict, item.points if passed else 0, detail(result, item.name))

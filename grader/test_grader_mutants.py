"""Does the grader catch known bugs? Each mutant plants one in a copy of the reference
solution, the copy is built into a kernel, and the rubric tests the mutant's
"# expect:" lines name are run on it, one QEMU each: each must end FAIL or PANIC (a
hang, a skip or a pass means the bug went unnoticed) and earn 0 points. A mutant may
instead name its verdict ("# verdict: TIMEOUT": a hang the kernel's watchdog must stop
within the test's budget) and a regular expression the grade table's detail must match
("# detail: ^stuck in npt_walk"): the report must say what went wrong, and where. The rest of the
rubric, minus the "# may-fail:" tests (knock-on effects), must still pass in one boot:
the bug is the one planted, and the "# expect:" list is not missing a test.

Mutants (sed scripts; their first lines say what they break):
  grader/mutants/pager_*.sed  -> solution/project3/pager.c
  grader/mutants/mmio_*.sed   -> solution/project3/mmio.c
  grader/mutants/hang_*.sed   -> the file of their "# target:" line (hangs in the NPT
                                 cannot be npt_*: test_npt_host.py runs those on the host)
  two of the host-level NPT mutants (grader/mutants/npt_*.sed, test_npt_host.py), whose
  in-kernel effects are listed in NPT_MUTANTS below (their files are not ours).

Each mutant is built in build/mutants/<name>/ (a copy of the repository without .git,
grader/ and handouts/, and of build/solution/'s object folders with their times, so that
make compiles only the mutated file and relinks), two at a time, and kept until the copied
files or the script change. The baseline, that the unmutated reference passes all of
these, is test_project3.py's test_reference. A hang ("# verdict: TIMEOUT") is run with
short watchdog limits (HANG_*), which the reference is shown to meet. Marker `mutants`:
deselect with -m "not mutants".
"""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import Verdict, examples, qemu, rubric
from harness.mutant import read_header
from harness.paths import ROOT, is_cache
from harness.plugin import MAKE_VARS, SOLUTION_DIR, SOLUTION_IMAGE

MUTANT_DIR = ROOT / "grader" / "mutants"
WORK = qemu.BUILD / "mutants"
TARGETS = {"pager": "solution/project3/pager.c", "mmio": "solution/project3/mmio.c",
           "npt": "solution/project3/npt.c"}
# Host-level NPT mutants that are also run in the kernel: (more tests they must break
# there besides the npt.* tests of their "# expect:" lines, tests that may break too).
NPT_MUTANTS = {
    # No guest can run (nested walks are user accesses): guests must fail, not hang.
    "npt_no_us_upper": (
        ["pager.boot_keos", "mmio.print"],
        ["mmio.invalid_size", "mmio.readback", "mmio.outside_buffer", "pager.lazy",
         "pager.partial_and_bss", "pager.stress"]),
    # kev builds guest page tables and reads guest memory through npt_gpa2hpa.
    "npt_gpa2hpa_no_offset": (
        ["mmio.print", "pager.partial_and_bss"],
        ["npt.gva2hpa_huge_pat", "npt.gva2hpa_1g", "mmio.invalid_size", "mmio.readback",
         "mmio.outside_buffer"]),
    # kev fetches the instruction behind an MMIO access through npt_gva2hpa, and the
    # raw guests map themselves with 2 MiB pages.
    "npt_gva2hpa_no_huge": (
        ["mmio.print"],
        ["mmio.invalid_size", "mmio.readback", "mmio.outside_buffer"]),
}
# Mutants the tests do not catch yet: a gap in a kernel test, to be fixed there. strict:
# once the test catches the mutant, the xfail turns into a failure as a reminder.
KNOWN_SURVIVORS = {}  # mutant name -> why the tests cannot catch it (none today)
BUILD_JOBS = 2
# A hang shows as soon as the watchdog looks: the "# verdict: TIMEOUT" mutants run with
# limits far below the rubric's (whose 10 x ref_ms, at least 2 s, is for a loaded
# machine; a hung run costs all of it, and a whole CPU). Each test's budget is
# HANG_BUDGET_SHARE of the rubric's if its ref_ms set it, at least HANG_BUDGET_FLOOR_S
# (_HOST_S for npt.*); the stall limit is HANG_STALL_S.
# test_reference_passes_within_the_hang_limits proves the reference finishes every such
# test within them, so a TIMEOUT there is the bug, not the limits.
# KEOS_MUTANT_RUBRIC_LIMITS=1 runs the hangs with the rubric's own limits (a hanging
# solution's full grade, as students get it).
HANG_BUDGET_SHARE = 0.25
HANG_BUDGET_FLOOR_S = 0.5
# npt.* boot no guest (calls into npt.c from the kernel): at most 8 ms in the ~50 runs of
# each in one make check, 2026-11-26, where the tests that run guests took up to 189 ms.
HANG_BUDGET_FLOOR_HOST_S = 0.2
# Measured 2026-11-26: the hang tests' reference selection passed 45 of 45 runs with a
# 0.3-0.5 s stall limit beside 2-4 busy loops and a second QEMU on 2 cores, and 36 of 36
# with 0.5 s beside three busy loops.
HANG_STALL_S = 0.5
RUBRIC_LIMITS = bool(os.environ.get("KEOS_MUTANT_RUBRIC_LIMITS"))
NOT_COPIED = ("build", ".git", "grader", "handouts")   # the kernel build needs none of them
# Where the kernel's objects sit in a build folder (Makefile KERNEL_OBJS: the sources' own
# folders; a SOLUTION=1 build's solution/ holds the reference's project3 objects, the
# student build's build/solution/ is that other build).
OBJECT_DIRS = ("keos", "kev", "project3")
CAUGHT = (Verdict.FAIL, Verdict.PANIC)
ITEMS = {i.name: i for i in rubric.load()}

pytestmark = [pytest.mark.mutants, pytest.mark.kernel,
              pytest.mark.skipif(not SOLUTION_DIR.is_dir(),
                                 reason="solution/ is not here: no reference to mutate")]


@dataclass
class Mutant:
    name: str
    script: Path
    target: str         # the file it edits, relative to the repository
    expect: list        # rubric tests that must catch it (FAIL or PANIC)
    may_fail: list      # knock-on failures; every other rubric test must still pass
    messages: list      # (test, text): the test's failure must say text (issue 15)
    solution: bool = True   # built with SOLUTION=1 (else the student's tree, test_forgery)
    verdict: Verdict = None     # the verdict each expect test must get, if one is named
    detail: str = None          # a regex the grade detail of each expect test must match


def load_mutants():
    scripts = sorted(MUTANT_DIR.glob("pager_*.sed")) + sorted(MUTANT_DIR.glob("mmio_*.sed"))
    scripts += [MUTANT_DIR / f"{n}.sed" for n in NPT_MUTANTS]
    scripts += sorted(MUTANT_DIR.glob("hang_*.sed"))
    out = []
    for script in scripts:
        header = read_header(script)
        more, may = NPT_MUTANTS.get(script.stem, ([], []))
        out.append(Mutant(script.stem, script,
                          header.target or TARGETS.get(script.stem.split("_")[0]),
                          header.expect + more, header.may_fail + may, header.messages,
                          verdict=Verdict(header.verdict) if header.verdict else None,
                          detail=header.detail))
    return out


def params(mutants):
    return [pytest.param(m, id=m.name, marks=[pytest.mark.xfail(
        strict=True, reason=KNOWN_SURVIVORS[m.name])] if m.name in KNOWN_SURVIVORS else [])
        for m in mutants]


def selection(names):
    """A short selection running exactly `names` (the kernel reads 255 bytes of it):
    group.* for a group of the rubric that is wholly included."""
    out = []
    for group in dict.fromkeys(n.split(".")[0] for n in ITEMS):
        members = [n for n in ITEMS if n.startswith(group + ".")]
        chosen = [n for n in members if n in names]
        out += [f"{group}.*"] if chosen == members else chosen
    return ",".join(out)


MUTANTS = load_mutants()


def copied(rel):
    """Does a mutant's copy take this file or folder (relative to the repository)? Not
    NOT_COPIED, not the Markdown documents: a README edit must not rebuild every mutant;
    nor Python's caches (tools/__pycache__, written when a test imports a tool)."""
    return rel.parts[0] not in NOT_COPIED and rel.suffix != ".md" and not is_cache(rel)


def tree_digest():
    """A digest of everything a mutant build copies: a changed source means a rebuild."""
    h = hashlib.sha1()
    for path in sorted(walk(ROOT)):
        rel = path.relative_to(ROOT)
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def walk(folder):
    """The files below `folder` that copied() takes (without entering build/ and the
    other folders it leaves out)."""
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if not copied(path.relative_to(ROOT)):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from walk(path)
        elif entry.is_file():
            yield path


def copy_tree(tree):
    """A fresh copy of the repository (what copied() takes) at `tree`."""
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(ROOT, tree, symlinks=True, ignore=lambda d, names: [
        n for n in names if not copied((Path(d) / n).relative_to(ROOT))])


def copy_objects(tree, image, solution):
    """The kernel objects of this repository's build of `image` (build/solution/ or build/),
    into the copy `tree`, times kept (copy2): make sees them up to date and compiles only
    what the copy changes, then relinks. Only the object folders: not the ISO, its staging
    folder, the logs or the other builds that share build/."""
    built = ROOT / image.parent.relative_to(tree)
    for folder in OBJECT_DIRS + (("solution",) if solution else ()):
        if (built / folder).is_dir():
            shutil.copytree(built / folder, tree / built.relative_to(ROOT) / folder,
                            symlinks=True, dirs_exist_ok=True)
    # The toolchain stamp the objects depend on (Makefile TC_STAMP): without it make
    # writes a new one and recompiles everything.
    stamp = qemu.BUILD / "toolchain.id"
    if stamp.exists():
        (tree / stamp.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(stamp, tree / stamp.relative_to(ROOT))


def make_image(tree, image, solution):
    """Build `image` in the copy `tree`; None, or the error with the build's last lines."""
    made = subprocess.run(["make", "-s", *MAKE_VARS] + (["SOLUTION=1"] if solution else []) +
                          [str(image.relative_to(tree))], cwd=tree, capture_output=True,
                          text=True)
    if made.returncode != 0:
        tail = "\n".join((made.stdout + made.stderr).splitlines()[-30:])
        return f"it does not build:\n{tail}"
    return None


def build(mutant, digest):
    """Copy the repository, apply the script, build the solution's image. Returns
    (image, seconds, error). Reuses a build whose stamp matches."""
    tree = WORK / mutant.name
    image = tree / (SOLUTION_IMAGE if mutant.solution else qemu.IMAGE).relative_to(ROOT)
    stamp = f"{digest} {hashlib.sha1(mutant.script.read_bytes()).hexdigest()}"
    WORK.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(WORK / f".{mutant.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # pytest-xdist workers share the builds
        stamp_file = tree / ".mutant-stamp"
        if image.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            return image, 0.0, None
        copy_tree(tree)
        copy_objects(tree, image, mutant.solution)
        target = tree / mutant.target
        before = target.read_text()
        sed = subprocess.run(["sed", "-i", "-f", str(mutant.script), str(target)],
                             capture_output=True, text=True)
        if sed.returncode != 0:
            return None, 0.0, f"sed failed: {sed.stderr}"
        if target.read_text() == before:
            return None, 0.0, f"{mutant.script.name} changed nothing in {mutant.target}"
        error = make_image(tree, image, mutant.solution)
        if error:
            return None, 0.0, f"the mutant {error}"
        stamp_file.write_text(stamp)
    return image, time.monotonic() - start, None


@pytest.fixture(scope="session")
def mutant_builds(keos_build):
    """{name: (image, build seconds, error)}, built BUILD_JOBS at a time, plus the total."""
    keos_build.ensure(SOLUTION_IMAGE)   # build/disk.img, which the mutants boot with
    digest = tree_digest()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=BUILD_JOBS) as pool:
        done = dict(zip([m.name for m in MUTANTS],
                        pool.map(lambda m: build(m, digest), MUTANTS)))
    return done, time.monotonic() - start


def test_every_mutant_names_rubric_tests():
    assert MUTANTS, f"no mutants in {MUTANT_DIR}"
    for m in MUTANTS:
        assert m.expect, f"{m.script.name} has no '# expect:' line"
        unknown = [n for n in m.expect + m.may_fail if n not in ITEMS]
        assert not unknown, f"{m.script.name} names tests not in the rubric: {unknown}"
        assert not set(m.expect) & set(m.may_fail), f"{m.script.name}: expect or may-fail?"
        assert all(t in m.expect for t, _ in m.messages), \
            f"{m.script.name}: a '# message:' line for a test it does not expect to fail"
        assert m.target, f"{m.script.name}: no '# target:' line and no known prefix"
        assert m.verdict in (None,) + CAUGHT + (Verdict.TIMEOUT,), \
            f"{m.script.name}: a mutant is caught by FAIL, PANIC or the watchdog's TIMEOUT"
        if m.detail:
            re.compile(m.detail)


def test_mutant_copies_take_the_sources_only():
    """What a mutant's copy takes decides when every mutant is built again (tree_digest):
    the kernel's sources and tools, not documents, the grader or Python's caches."""
    assert copied(Path("keos/main.c")) and copied(Path("tools/boot_time.py"))
    for rel in ("README.md", "grader/grade.py", "build/kernel.elf",
                "tools/__pycache__", "tools/__pycache__/boot_time.cpython-311.pyc"):
        assert not copied(Path(rel)), rel


def test_mutant_build_time(mutant_builds, keos):
    builds, total = mutant_builds
    keos.record(f"{len(builds)} mutant kernels built ({BUILD_JOBS} at a time)",
                round(total, 1), "s")
    errors = {n: e for n, (_, _, e) in builds.items() if e}
    assert not errors, "\n".join(f"{n}: {e}" for n, e in errors.items())


def watchdog_limits(mutant, item):
    """(budget, stall limit) in seconds for `item`'s run on `mutant`: the rubric's, or
    for a hang the shorter hang limits."""
    if mutant.verdict != Verdict.TIMEOUT or RUBRIC_LIMITS:
        return item.budget, qemu.STALL_S
    return hang_limits(item)


def hang_limits(item):
    floor = HANG_BUDGET_FLOOR_HOST_S if item.name.startswith("npt.") else HANG_BUDGET_FLOOR_S
    # A share of a budget from the test's ref_ms; one at the rubric's floor has none.
    share = HANG_BUDGET_SHARE * item.budget if item.budget > rubric.BUDGET_FLOOR_S else 0
    return max(floor, share), HANG_STALL_S


HANG_TESTS = [n for n in ITEMS if any(n in m.expect for m in MUTANTS
                                      if m.verdict == Verdict.TIMEOUT)]


def test_reference_passes_within_the_hang_limits(keos_solution):
    """The reference passes every test a hang mutant is caught by, in one boot with the
    hang stall limit, each within its hang budget: the limits are ample for correct code
    (checked under the same load as the mutants' runs), so a TIMEOUT there is the bug."""
    if RUBRIC_LIMITS:
        pytest.skip("KEOS_MUTANT_RUBRIC_LIMITS: the hangs run with the rubric's limits")
    assert HANG_TESTS, "no '# verdict: TIMEOUT' mutant"
    budgets = {n: hang_limits(ITEMS[n])[0] for n in HANG_TESTS}
    result = keos_solution(selection(HANG_TESTS), watchdog=max(budgets.values()),
                           stall=HANG_STALL_S, timeout=sum(ITEMS[n].timeout for n in HANG_TESTS))
    result.expect_pass()
    assert sorted(result.tests) == sorted(HANG_TESTS), result.explain()
    too_slow = {n: f"{t.ms} ms > {budgets[n]:g} s" for n, t in result.tests.items()
                if t.ms is None or t.ms > 1000 * budgets[n]}
    assert not too_slow, f"the reference needs more than the hang budgets: {too_slow}"


@pytest.mark.parametrize("mutant", params(MUTANTS))
def test_mutant_is_caught(mutant_builds, keos, mutant):
    image, _, error = mutant_builds[0][mutant.name]
    assert error is None, f"{mutant.name}: {error}"
    missed, unclear = [], []
    for name in mutant.expect:
        item = ITEMS[name]
        budget, stall = watchdog_limits(mutant, item)
        result = keos(name, image=image, timeout=item.timeout, watchdog=budget, stall=stall)
        scored = rubric.score(item, result)
        caught = result.verdict == mutant.verdict if mutant.verdict else \
            result.verdict in CAUGHT
        if mutant.detail and not re.search(mutant.detail, scored.detail):
            caught = False
        if not caught or scored.earned:
            missed.append(f"{name}: {result.verdict} {scored.detail}\n{result.explain(10)}")
        unclear += [f"{name}: {result.failure!r} lacks {text!r}"
                    for test, text in mutant.messages
                    if test == name and text not in (result.failure or "")]
        if any(test == name for test, _ in mutant.messages):
            unclear += filter(None, [examples.example_mismatch(name, result.failure)])
    assert not missed, f"{mutant.name} ({mutant.script}) was not caught by:\n" + \
        "\n".join(missed)
    assert not unclear, f"{mutant.name}: the message does not name the bug:\n" + \
        "\n".join(unclear)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_breaks_nothing_else(mutant_builds, keos, mutant):
    """The rest of the rubric in one boot: a mutant that breaks more than it says is
    either a bad mutant or a missing "# expect:"/"# may-fail:" line."""
    image, _, error = mutant_builds[0][mutant.name]
    assert error is None, f"{mutant.name}: {error}"
    others = [n for n in ITEMS if n not in mutant.expect + mutant.may_fail]
    timeout = sum(ITEMS[n].timeout for n in others)
    result = keos(selection(others), image=image, timeout=timeout)
    assert sorted(result.tests) == sorted(others), \
        f"ran {sorted(result.tests)}, not the {len(others)} other rubric tests"
    broken = {n: t for n, t in result.tests.items() if t.verdict not in
              (Verdict.PASS, Verdict.SKIP)}      # SKIP: this machine could not grade it
    assert not broken and result.verdict in (Verdict.PASS, Verdict.SKIP), \
        f"{mutant.name} also breaks {sorted(broken)}\n{result.explain()}"

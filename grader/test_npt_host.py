"""Project 3 part 1 (nested page table) on the host, under ASan and UBSan.

The KTEST()s of project3/tests/npt_tests.c are linked with an npt.c into a
Linux program (grader/host/) and run one by one:

* test_student: the student's project3/npt.c. A test that reaches a TODO()
  is reported as xfail ("not implemented"), apart from a real failure.
* test_solution: the reference solution/project3/npt.c passes everything.
* test_stub_reports_not_implemented: while project3/npt.c is still the
  handed-out stub, every test stops at a TODO() and none fails.
* test_mutant_is_caught: each grader/mutants/npt_*.sed plants a known bug in
  a copy of the solution; the tests named in its "# expect:" lines must fail.

The solution-based checks are skipped where solution/ is absent.
"""
import fcntl
import re
import subprocess
from dataclasses import dataclass

import pytest

from harness import examples
from harness.paths import ROOT

MAKEFILE = ROOT / "grader" / "host" / "npt.mk"
BUILD = ROOT / "build" / "host"
TESTS_SRC = ROOT / "project3" / "tests" / "npt_tests.c"
STUDENT_SRC = ROOT / "project3" / "npt.c"
SOLUTION_SRC = ROOT / "solution" / "project3" / "npt.c"
MUTANTS = sorted((ROOT / "grader" / "mutants").glob("npt_*.sed"))
STUDENT_FUNCS = ("npte_present", "npte_addr", "npt_walk", "npt_map", "npt_unmap",
                 "npt_gpa2hpa", "npt_gva2hpa")
RUN_TIMEOUT = 30  # seconds for one test; the slowest takes well under one

needs_solution = pytest.mark.skipif(not SOLUTION_SRC.exists(),
                                    reason="solution/project3/npt.c is not here")


def ktest_names():
    """Test names in the order KTEST() defines them in the source."""
    text = TESTS_SRC.read_text()
    return [f"{g}.{n}" for g, n in re.findall(r"^KTEST\((\w+),\s*(\w+)\)", text, re.M)]


TEST_NAMES = ktest_names()


@dataclass
class Outcome:
    verdict: str  # PASS, FAIL, NOTIMPL, or MISSING (no verdict line)
    line: str     # the verdict line
    returncode: int
    output: str   # stdout and stderr, for messages


def make(*args):
    # One make at a time: pytest-xdist workers share build/host/rt.
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / ".npt-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["make", "-s", "-f", str(MAKEFILE), *args], cwd=ROOT,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"host build failed: make {' '.join(args)}\n{proc.stdout}{proc.stderr}",
                    pytrace=False)


def build(src, out):
    make(f"NPT_SRC={src}", f"OUT={out}", str(out))
    return out


def run(prog, selection):
    try:
        proc = subprocess.run([str(prog), selection], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return None, f"timed out after {RUN_TIMEOUT} s\n{e.stdout or ''}"
    return proc, proc.stdout + proc.stderr


def run_test(prog, name):
    proc, output = run(prog, name)
    if proc is None:
        return Outcome("FAIL", f"TEST-FAIL {name} timeout", -1, output)
    for line in proc.stdout.splitlines():
        m = re.match(r"TEST-(PASS|FAIL|NOTIMPL) (\S+)", line)
        if m and m.group(2) == name:
            return Outcome(m.group(1), line, proc.returncode, output)
    return Outcome("MISSING", "", proc.returncode, output)


@pytest.fixture(scope="session")
def runtime():
    make("runtime")


@pytest.fixture(scope="session")
def student_prog(runtime):
    return build(STUDENT_SRC, BUILD / "npt_student")


@pytest.fixture(scope="session")
def solution_prog(runtime):
    if not SOLUTION_SRC.exists():
        pytest.skip("solution/project3/npt.c is not here")
    return build(SOLUTION_SRC, BUILD / "npt_solution")


def test_runner_finds_every_ktest(student_prog):
    proc = subprocess.run([str(student_prog), "--list"], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.split() == TEST_NAMES, "the host runner and the source disagree"
    assert len(TEST_NAMES) >= 10


def test_runner_rejects_unknown_test(student_prog):
    proc, output = run(student_prog, "npt.no_such_test")
    assert proc is not None and proc.returncode == 1, output


@pytest.mark.parametrize("name", TEST_NAMES)
def test_student(student_prog, name):
    o = run_test(student_prog, name)
    if o.verdict == "NOTIMPL":
        pytest.xfail(o.line.split(" ", 2)[2])
    assert o.verdict == "PASS", f"{name} did not pass:\n{o.output}"
    assert o.returncode == 0, o.output


@needs_solution
@pytest.mark.parametrize("name", TEST_NAMES)
def test_solution(solution_prog, name):
    o = run_test(solution_prog, name)
    assert o.verdict == "PASS", f"the reference solution fails {name}:\n{o.output}"
    assert o.returncode == 0, o.output


def is_untouched_stub(path):
    """Every student function of the stub is a TODO() (and nothing else is)."""
    text = path.read_text()
    return text.count("TODO();") == len(STUDENT_FUNCS) and all(
        re.search(rf"\b{f}\(.*\)\n{{(\n\t\(void\)\w+;)*\n\tTODO\(\);\n}}", text)
        for f in STUDENT_FUNCS)


def test_stub_reports_not_implemented(student_prog):
    if not is_untouched_stub(STUDENT_SRC):
        pytest.skip("project3/npt.c is no longer the handed-out stub")
    proc, output = run(student_prog, "*")
    assert proc is not None, output
    verdicts = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"TEST-(PASS|FAIL|NOTIMPL) (\S+)", line)
        if m:
            verdicts[m.group(2)] = m.group(1)
    assert verdicts == {name: "NOTIMPL" for name in TEST_NAMES}, output
    assert proc.returncode == 3, f"not-implemented must have its own exit status\n{output}"
    assert "not implemented: npt_" in proc.stdout


def mutant_expectations(sed):
    names = []
    for line in sed.read_text().splitlines():
        if line.startswith("# expect:"):
            names += line.split(":", 1)[1].split()
    return names


def mutant_messages(sed):
    """{test: text its failure must contain}, from "# message: <test>: <text>" lines: the
    message names the bug's place (issue 15), not just that something is wrong."""
    return dict(line.split(":", 1)[1].strip().split(": ", 1)
                for line in sed.read_text().splitlines() if line.startswith("# message:"))


@needs_solution
@pytest.mark.parametrize("sed", MUTANTS, ids=lambda p: getattr(p, "stem", str(p)))
def test_mutant_is_caught(runtime, sed):
    expected = mutant_expectations(sed)
    assert expected, f"{sed.name} has no '# expect:' line"
    unknown = set(expected) - set(TEST_NAMES)
    assert not unknown, f"{sed.name} expects unknown tests {unknown}"

    out_dir = BUILD / "npt_mutants" / sed.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "npt.c"
    mutated = subprocess.run(["sed", "-f", str(sed), str(SOLUTION_SRC)], capture_output=True,
                             text=True, check=True).stdout
    assert mutated != SOLUTION_SRC.read_text(), \
        f"{sed.name} no longer changes the solution: update the script"
    if not src.exists() or src.read_text() != mutated:  # keep make's timestamps useful
        src.write_text(mutated)
    prog = build(src, out_dir / "npt")

    survivors, unclear = [], []
    messages = mutant_messages(sed)
    for name in expected:
        o = run_test(prog, name)
        if o.verdict != "FAIL":
            survivors.append(f"{name}: {o.verdict}")
        elif name in messages and messages[name] not in o.line:
            unclear.append(f"{name}: {o.line!r} lacks {messages[name]!r}")
        elif name in messages:
            unclear += filter(None, [examples.example_mismatch(name, o.line.split(" ", 2)[2])])
    assert not survivors, f"mutant {sed.stem} was not caught by: {survivors}"
    assert not unclear, f"mutant {sed.stem}: the message does not name the bug:\n" + \
        "\n".join(unclear)

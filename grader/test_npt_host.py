"""Project 3 part 1 (nested page table) on the host, under ASan and UBSan.

The KTEST()s of project3/tests/npt_tests.c are linked with an npt.c into a
Linux program (grader/host/) and run one by one. The program prints what the
kernel's runner prints, and harness/log.py reads it (parse_host_output):

* test_student: the student's project3/npt.c. A test that reaches a TODO()
  is reported as xfail ("not implemented"), apart from a real failure.
* test_solution: the reference solution/project3/npt.c passes everything.
* test_stub_reports_not_implemented: while project3/npt.c is still the
  handed-out stub, every test stops at a TODO() and none fails.
* test_mutant_is_caught: each grader/mutants/npt_*.sed plants a known bug in
  a copy of the solution; the tests named in its "# expect:" lines must fail.

The solution-based checks are skipped where solution/ is absent.
"""
import re
import subprocess
from dataclasses import dataclass

import pytest

from harness import Verdict, classify, examples, ktests
from harness.log import outcomes_by_test, parse_host_output
from harness.mutant import read_header
from harness.paths import ROOT
from harness.plugin import make_locked

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


TEST_NAMES = ktests.in_file(TESTS_SRC)     # in the order the runner runs them
CAUGHT = (Verdict.FAIL, Verdict.PANIC)      # as in the kernel (test_grader_mutants.py)


@dataclass
class Outcome:
    verdict: Verdict    # of the test; TIMEOUT if the program did not end in time
    detail: str         # the failure, panic message or TODO() reached, if any
    returncode: int
    output: str         # stdout and stderr, for messages


def make(*args):
    # make_locked: one make at a time, as pytest-xdist workers share build/host/rt.
    proc = make_locked("-s", "-f", str(MAKEFILE), *args)
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
    """Run one test, read as a kernel run is read (the run's verdict decides an
    unfinished test's, as in harness/log.py)."""
    proc, output = run(prog, name)
    if proc is None:
        return Outcome(Verdict.TIMEOUT, f"timed out after {RUN_TIMEOUT} s", -1, output)
    log = parse_host_output(proc.stdout)
    verdict, note = classify(log, proc.returncode)
    outcome = outcomes_by_test(log, verdict).get(name)
    if outcome is None:     # the test never started
        return Outcome(verdict, note, proc.returncode, output)
    detail = outcome.failure or log.panic or note
    if log.not_implemented:
        detail = f"not implemented: {log.not_implemented} ({log.not_implemented_at})"
    return Outcome(outcome.verdict, detail, proc.returncode, output)


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
    o = run_test(student_prog, "npt.no_such_test")
    assert o.verdict == Verdict.ERROR and "matched no test" in o.detail, o.output


@pytest.mark.parametrize("name", TEST_NAMES)
def test_student(student_prog, name):
    o = run_test(student_prog, name)
    if o.verdict == Verdict.NOT_IMPLEMENTED:
        pytest.xfail(o.detail)
    assert o.verdict == Verdict.PASS, f"{name} did not pass:\n{o.output}"


@needs_solution
@pytest.mark.parametrize("name", TEST_NAMES)
def test_solution(solution_prog, name):
    o = run_test(solution_prog, name)
    assert o.verdict == Verdict.PASS, f"the reference solution fails {name}:\n{o.output}"


def is_untouched_stub(path):
    """Every student function of the stub is a TODO() (and nothing else is)."""
    text = path.read_text()
    return text.count("TODO();") == len(STUDENT_FUNCS) and all(
        re.search(rf"\b{f}\(.*\)\n{{(\n\t\(void\)\w+;)*\n\tTODO\(\);\n}}", text)
        for f in STUDENT_FUNCS)


def test_stub_reports_not_implemented(student_prog):
    """Every test of the stub stops at a TODO(), which ends the run with its own exit
    status, as in the kernel (one run per test: the first TODO() ends a run)."""
    if not is_untouched_stub(STUDENT_SRC):
        pytest.skip("project3/npt.c is no longer the handed-out stub")
    outcomes = {name: run_test(student_prog, name) for name in TEST_NAMES}
    verdicts = {name: o.verdict for name, o in outcomes.items()}
    assert verdicts == {name: Verdict.NOT_IMPLEMENTED for name in TEST_NAMES}, \
        "\n".join(o.output for o in outcomes.values())
    assert all(o.detail.startswith("not implemented: npt_") for o in outcomes.values())


@pytest.fixture(scope="session")
def mutant_programs(runtime):
    """{script: its program, or None if the script changes nothing}: every mutant's npt.c
    written (only when it changed: make's timestamps stay useful) and built by one make
    (a make per mutant cost 0.06 s of CPU to find each up to date)."""
    programs = {}
    solution = SOLUTION_SRC.read_text()
    for sed in MUTANTS:
        src = BUILD / "npt_mutants" / sed.stem / "npt.c"
        mutated = subprocess.run(["sed", "-f", str(sed), str(SOLUTION_SRC)],
                                 capture_output=True, text=True, check=True).stdout
        if mutated == solution:
            programs[sed] = None
            continue
        src.parent.mkdir(parents=True, exist_ok=True)
        if not src.exists() or src.read_text() != mutated:
            src.write_text(mutated)
        programs[sed] = src.parent / "npt"
    make(*[str(p) for p in programs.values() if p])
    return programs


@needs_solution
@pytest.mark.parametrize("sed", MUTANTS, ids=lambda p: getattr(p, "stem", str(p)))
def test_mutant_is_caught(mutant_programs, sed):
    header = read_header(sed)
    expected = header.expect
    assert expected, f"{sed.name} has no '# expect:' line"
    unknown = set(expected) - set(TEST_NAMES)
    assert not unknown, f"{sed.name} expects unknown tests {unknown}"
    prog = mutant_programs[sed]
    assert prog, f"{sed.name} no longer changes the solution: update the script"

    survivors, unclear = [], []
    # "# message: <test>: <text>": the failure names the bug's place (issue 15)
    messages = dict(header.messages)
    for name in expected:
        o = run_test(prog, name)
        if o.verdict not in CAUGHT:
            survivors.append(f"{name}: {o.verdict.value}")
        elif name in messages and messages[name] not in o.detail:
            unclear.append(f"{name}: {o.detail!r} lacks {messages[name]!r}")
        elif name in messages:
            unclear += filter(None, [examples.example_mismatch(name, o.detail)])
    assert not survivors, f"mutant {sed.stem} was not caught by: {survivors}"
    assert not unclear, f"mutant {sed.stem}: the message does not name the bug:\n" + \
        "\n".join(unclear)

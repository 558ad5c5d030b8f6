"""The policy for student files (harness/policy.py, rubric.toml [policy]).

* It accepts what correct solutions need: the skeleton, the reference solution and a
  second, independently written one (grader/policy_fixtures/second_solution/).
* Its allowlist names only functions the allowed headers declare, and the handout lists
  exactly the allowlists.
* Every rule can fail: one small offending file each (the forgeries themselves are in
  test_forgery.py).
"""

import json
import re
import subprocess
import sys

import pytest

from harness import policy
from harness.paths import ROOT

SECOND = ROOT / "grader" / "policy_fixtures" / "second_solution"
SOLUTIONS = {"skeleton": ROOT / "project3", "reference": ROOT / "solution" / "project3",
             "second": SECOND}
ALLOW = policy.load()


def present(name):
    if not SOLUTIONS[name].is_dir():
        pytest.skip(f"{SOLUTIONS[name]} is not in this copy")
    return policy.student_files(SOLUTIONS[name])


@pytest.mark.parametrize("name", SOLUTIONS)
def test_correct_code_keeps_to_the_policy(tmp_path, name):
    sources = present(name)
    assert policy.check_sources(sources) == []
    objects = policy.compile_objects(sources, tmp_path)
    assert policy.check_objects(objects, sources) == []


def needed(name, tmp_path):
    objects = policy.compile_objects(present(name), tmp_path)
    nm = subprocess.run([policy.tool("nm"), "-u", *map(str, objects)], capture_output=True,
                        text=True, check=True).stdout
    return {line.split()[-1] for line in nm.splitlines() if line.strip().startswith("U")}


def test_allowlist_covers_both_solutions_and_is_declared(tmp_path):
    """What the two solutions call is allowed; everything allowed is declared in an
    allowed header (the list names an API, not whatever some file happens to call)."""
    (tmp_path / "r").mkdir()
    (tmp_path / "s").mkdir()
    both = needed("reference", tmp_path / "r") | needed("second", tmp_path / "s")
    assert both <= ALLOW.symbols, f"needed but not allowed: {sorted(both - ALLOW.symbols)}"
    headers = [p for d in ("keos", "kev", "project3") for p in (ROOT / d).glob("*.h")
               if p.name in ALLOW.includes]
    assert {p.name for p in headers} == ALLOW.includes, "an allowed header does not exist"
    declared = " ".join(p.read_text() for p in headers)
    undeclared = [s for s in ALLOW.symbols if not re.search(rf"\b{s}\s*\(", declared)]
    assert not undeclared, f"allowed but no allowed header declares: {undeclared}"


def test_handout_lists_the_allowlists():
    text = (ROOT / "handouts" / "project3.md").read_text()
    section = text[text.index("### You may call"):]
    section = section[:section.find("\n#", 4)]
    listed = set(re.findall(r"`([A-Za-z_0-9.]+)`", section))
    missing = sorted((ALLOW.includes | ALLOW.symbols) - listed)
    assert not missing, f"handouts/project3.md 'You may call' does not list {missing}"


# One offending line each, inside an otherwise harmless file: (code, symbol, why).
OFFENCES = {
    "inline asm": ('void f(void) { asm volatile("hlt"); }', "asm", "inline assembly"),
    "__asm__": ('void f(void) { __asm__("nop"); }', "__asm__", "inline assembly"),
    "port helper": ('void f(void) { outb(0xe9, 1); }', "outb", "port and MSR"),
    "msr helper": ("unsigned long f(void) { return rdmsr(0x10); }", "rdmsr", "port and MSR"),
    "x86.h": ('#include "x86.h"', "x86.h", "include allowlist"),
    "path to a header": ('#include "../keos/test.h"', "../keos/test.h", "include allowlist"),
    "system header": ("#include <stdio.h>", "stdio.h", "include allowlist"),
    "computed include": ("#include HEADER", "HEADER", "in quotes"),
}
SAFE = ('#include "npt.h"\n/* asm outb in a comment */\n'
        'static const char *s = "__asm__ rdmsr #include <x86.h>";\n')


@pytest.mark.parametrize("code, symbol, why", OFFENCES.values(), ids=OFFENCES.keys())
def test_source_rules(tmp_path, code, symbol, why):
    src = tmp_path / "npt.c"
    src.write_text(SAFE)
    assert policy.check_sources([src]) == [], "comments and strings are not code"
    src.write_text(SAFE + code + "\n")
    found = policy.check_sources([src])
    assert [(v.file, v.line, v.symbol) for v in found] == [(str(src), 4, symbol)], found
    assert why in found[0].why and str(found[0]).startswith(f"{src}:4: {symbol}: ")


# Offences only the compiled object shows: (code, symbol, why).
OBJECT_OFFENCES = {
    "the runner": ('void run_tests(const char *s);\nvoid f(void) { run_tests("x"); }',
                   "run_tests", "may call"),
    "fw_cfg": ('int fw_cfg_read_file(const char *n, char *b, unsigned long s);\n'
               'int f(char *b) { return fw_cfg_read_file("opt/keos/secret", b, 40); }',
               "fw_cfg_read_file", "may call"),
    "the exit": ("#include \"printk.h\"\nvoid f(void) { qemu_exit(QEMU_EXIT_PASS); }",
                 "qemu_exit", "may call"),
    "the console driver": ('#include "serial.h"\nvoid f(void) { serial_putc(65); }',
                           "serial_putc", "may call"),
    "asm by token pasting": ('#define GLUE(a, b) a##b\nvoid f(void) { GLUE(as, m)("cli"); }',
                             "f", "privileged instruction `cli`"),
    "a test table entry": ('__attribute__((section(".ktests"), used)) static int t[2];',
                           ".ktests", "usual sections"),
}


@pytest.mark.parametrize("code, symbol, why", OBJECT_OFFENCES.values(),
                         ids=OBJECT_OFFENCES.keys())
def test_object_rules(tmp_path, code, symbol, why):
    src = tmp_path / "npt.c"
    src.write_text('#include "npt.h"\n' + code + "\n")
    found = policy.check_objects(policy.compile_objects([src], tmp_path), [src])
    assert [v.symbol for v in found] == [symbol], found
    assert why in found[0].why and found[0].file == str(src) and found[0].line > 0, found


def test_missing_tools_are_a_violation_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("NM", str(tmp_path / "no-such-nm"))
    found = policy.check_objects([tmp_path / "x.o"])
    assert found and "cannot run" in found[0].why


def test_grade_stops_at_the_policy(tmp_path):
    """grade.py with a violating file: the verdict POLICY, file:line: symbol, score 0,
    no QEMU started (none is given: --qemu would be needed to run anything)."""
    bad = tmp_path / "npt.c"
    bad.write_text('#include "npt.h"\n#include "x86.h"\n')
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, str(ROOT / "grader" / "grade.py"), "--iso",
                           str(tmp_path / "none.iso"), "--json", str(out), "--sources",
                           str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "a score is a result:\n" + done.stdout + done.stderr
    assert f"POLICY  {bad}:2: x86.h: " in done.stdout and "Score: 0/100" in done.stdout
    report = json.loads(out.read_text())
    assert report["verdict"] == "POLICY" and report["score"] == 0
    assert report["policy"][0] == {"file": str(bad), "line": 2, "symbol": "x86.h",
                                   "why": "this header is not on the include allowlist"}
    assert {t["verdict"] for t in report["tests"]} == {"POLICY"}

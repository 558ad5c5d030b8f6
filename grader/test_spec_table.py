"""The spec, rule by rule (issue 9): grader/README.md's table "rule -> test -> mutant"
held to the files, and the handout's race table held to what its mutants make the tests
say.

* Every mutant the README's table names exists, and the tests of its row are among the
  tests its "# expect:" lines name (the mutant is what proves the row).
* Every file in grader/mutants/ is in the table, and is run by one of the runners.
* Every function a student writes (the "Student work" parts of npt.h and pager.h, and
  mmio.h) has rows; a row without a mutant is a "gap" that says why.
* handouts/project3.md's race table (section 5): each row is planted by exactly one mutant
  (its "# race:" line is the row's first cell), and pager.stress on that mutant fails
  with the message the row quotes (marker `mutants`).
"""
import re

import pytest

from harness import rubric
from harness.plugin import SOLUTION_DIR
from harness.qemu import ROOT

README = ROOT / "grader" / "README.md"
MUTANT_DIR = ROOT / "grader" / "mutants"
HANDOUT = ROOT / "handouts" / "project3.md"
HEADERS = {name: ROOT / "project3" / name for name in ("npt.h", "mmio.h", "pager.h")}
SECTION = "## The spec, rule by rule"
RACE_SECTION = "### The race you must handle"
# Which runner plants a mutant, by the prefix of its name.
RUNNERS = {"npt": "test_npt_host.py", "mmio": "test_grader_mutants.py",
           "pager": "test_grader_mutants.py", "hang": "test_grader_mutants.py",
           "forge": "test_forgery.py"}
ITEMS = {i.name: i for i in rubric.load()}

# The student's copy (make handout) has neither the mutants nor the reference.
pytestmark = pytest.mark.skipif(not MUTANT_DIR.is_dir(), reason="grader/mutants/ is not here")


def section(text, heading):
    """The lines of `text` from `heading` to the next heading of the same or a higher
    level."""
    level = heading.split()[0]
    start = text.index(heading + " ") if heading + " " in text else text.index(heading)
    end = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start + len(heading))
    return text[start:end.start() if end else len(text)].splitlines()


def cells(line):
    """The cells of a markdown table row; `\\|` is a pipe inside a cell."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_rows(lines):
    """The body rows of every table in `lines` (header and separator rows dropped)."""
    rows, in_table = [], False
    for line in lines:
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table:            # the header row
            in_table = True
            continue
        if not re.match(r"^\|[-| ]+\|$", line):
            rows.append(cells(line))
    return rows


def code_names(cell):
    return re.findall(r"`([^`]+)`", cell)


class Row:
    def __init__(self, row):
        self.cells = row
        self.where = row[0] if len(row) == 4 else None
        self.tests = code_names(row[-2])
        self.mutants = code_names(row[-1])
        self.gap = row[-1].startswith("gap:")

    def __repr__(self):
        return " | ".join(self.cells)


ROWS = [Row(r) for r in table_rows(section(README.read_text(), SECTION))]


def expects(name):
    text = (MUTANT_DIR / f"{name}.sed").read_text()
    return [n for line in re.findall(r"^# expect:(.*)$", text, re.M)
            for n in line.split("(")[0].split()]


def test_table_is_there():
    assert len(ROWS) > 50, f"{README.name}: the section '{SECTION}' has {len(ROWS)} rows"


def test_every_named_mutant_exists():
    missing = [(m, r) for r in ROWS for m in r.mutants if not (MUTANT_DIR / f"{m}.sed").exists()]
    assert not missing, "the table names mutants that do not exist:\n" + \
        "\n".join(f"  {m}: {r}" for m, r in missing)


def test_every_mutant_is_in_the_table():
    named = {m for r in ROWS for m in r.mutants}
    files = {p.stem for p in MUTANT_DIR.glob("*.sed")}
    assert not files - named, f"mutants missing from {README.name}'s table " \
        f"'{SECTION}': {sorted(files - named)}"


def test_every_mutant_has_a_runner():
    unrun = [p.name for p in MUTANT_DIR.glob("*.sed") if p.stem.split("_")[0] not in RUNNERS]
    assert not unrun, f"no test plants these (prefixes: {sorted(RUNNERS)}): {unrun}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: (r.mutants or ["gap"])[0])
def test_row_is_proven_by_its_mutants(row):
    if row.gap:
        assert not row.mutants and len(row.cells[-1]) > len("gap: ") + 10, \
            f"a gap row has no mutant and says why: {row}"
        return
    assert row.mutants, f"a row with neither a mutant nor 'gap: why': {row}"
    unknown = [t for t in row.tests if t not in ITEMS]
    assert row.tests and not unknown, f"tests not in the rubric {unknown}: {row}"
    expected = {m: expects(m) for m in row.mutants if (MUTANT_DIR / f"{m}.sed").exists()}
    for mutant, tests in expected.items():
        assert set(tests) & set(row.tests), \
            f"{mutant}.sed expects {tests}, none of the row's tests: {row}"
    unproven = [t for t in row.tests if not any(t in ts for ts in expected.values())]
    assert not unproven, f"no mutant of the row expects {unproven} to fail: {row}"


def student_functions():
    """The functions a student writes, by header: after "Student work" in npt.h and
    pager.h; all of mmio.h."""
    out = {}
    for name, path in HEADERS.items():
        text = path.read_text()
        if "Student work" in text:
            text = text[text.index("Student work"):]
        out[name] = re.findall(r"^(?:\w+ )+\**(\w+)\(", text, re.M)
    return out


def test_every_student_function_has_rows():
    where = {code for r in ROWS if r.where for code in code_names(r.where)}
    functions = student_functions()
    assert all(functions.values()), f"no functions found in a header: {functions}"
    missing = [f"{h}: {f}" for h, fs in functions.items() for f in fs if f not in where]
    assert not missing, f"functions with no row in {README.name}'s table: {missing}"


# ---- the race table of handouts/project3.md ----

def race_rows():
    """[(what B does, the message it gets)] from the handout's race table."""
    rows = table_rows(section(HANDOUT.read_text(), RACE_SECTION))
    out = []
    for does, happens in rows:
        quoted = re.findall(r'"([^"]+)"', happens)
        out.append((does, quoted[-1] if quoted else None))
    return out


def race_mutants():
    """{row's first cell: mutant name} from the mutants' "# race:" lines."""
    out = {}
    for path in sorted(MUTANT_DIR.glob("*.sed")):
        for row in re.findall(r"^# race: (.*)$", path.read_text(), re.M):
            assert row.strip() not in out, f"two mutants plant race row '{row}'"
            out[row.strip()] = path.stem
    return out


def message_pattern(message):
    """The handout's message as a regular expression: 0x... is any hex number, a lone
    capital N or M any decimal one."""
    pattern = re.escape(message)
    pattern = pattern.replace(re.escape("0x..."), "0x[0-9a-f]+")
    return re.sub(r"\b[NM]\b", r"\\d+", pattern)


def test_race_table_rows_have_mutants():
    rows, mutants = race_rows(), race_mutants()
    assert len(rows) >= 3, f"{HANDOUT.name}: the race table has {len(rows)} rows"
    for does, message in rows:
        assert message, f"race row '{does}' quotes no message"
        assert does in mutants, f"no mutant has '# race: {does}'"
        assert "pager.stress" in expects(mutants[does]), \
            f"{mutants[does]}.sed plants race row '{does}' but does not expect pager.stress"
    stale = set(mutants) - {does for does, _ in rows}
    assert not stale, f"'# race:' lines for rows the handout does not have: {stale}"


def test_message_pattern():
    assert re.fullmatch(message_pattern("round N leaked M pages"), "round 0 leaked 90 pages")
    assert re.fullmatch(message_pattern("guest-physical 0x...: -NPT_EEXIST (already mapped)"),
                        "guest-physical 0x226000: -NPT_EEXIST (already mapped)")
    assert not re.search(message_pattern("round N leaked"), "round 0: 3 pages were loaded")


def run_mutant(keos_build, keos, name, test):
    """Rubric test `test` on mutant `name`, built like test_grader_mutants.py's (and
    shared with it)."""
    import test_grader_mutants as tgm
    mutant = next(m for m in tgm.MUTANTS if m.name == name)
    keos_build.ensure(tgm.SOLUTION_IMAGE)
    image, _, error = tgm.build(mutant, tgm.tree_digest())
    assert error is None, f"{mutant.name}: {error}"
    item = ITEMS[test]
    return keos(item.name, image=image, timeout=item.timeout, watchdog=item.budget)


def needs_mutants(test):
    """Marker `mutants` (and `kernel`); skipped where there is no reference to mutate."""
    for mark in (pytest.mark.mutants, pytest.mark.kernel,
                 pytest.mark.skipif(not SOLUTION_DIR.is_dir(),
                                    reason="solution/ is not here: no reference to mutate")):
        test = mark(test)
    return test


@needs_mutants
@pytest.mark.parametrize("does,message", race_rows(), ids=[r[0][:40] for r in race_rows()])
def test_race_row_message(keos_build, keos, does, message):
    """The row's mutant fails pager.stress with the row's message."""
    name = race_mutants()[does]
    result = run_mutant(keos_build, keos, name, "pager.stress")
    assert re.search(message_pattern(message), result.failure or ""), \
        f"{HANDOUT.name}'s race row '{does}' says \"{message}\", but {name} gives:\n" \
        f"  {result.verdict} {result.failure}"


@needs_mutants
def test_vcpu_failure_is_its_own(keos_build, keos):
    """The vCPU a failure names is the one whose error ended the VM, with that error
    (not the VM's verdict beside another vCPU's code), and the error names the NPT
    error (issue 9, item 7)."""
    result = run_mutant(keos_build, keos, "pager_mapped_is_error", "pager.stress")
    named = re.search(r"vcpu(\d+) did not exit with 0: error: the pager failed on "
                      r"guest-physical 0x[0-9a-f]+: -NPT_EEXIST \(already mapped\)$",
                      result.failure or "")
    assert named, f"pager.stress on pager_mapped_is_error: {result.failure}"
    failed = re.findall(r"^kev: \S+ vcpu(\d+): the pager failed", result.log_text, re.M)
    assert named.group(1) in failed, \
        f"the failure names vcpu{named.group(1)}, but the vCPUs kev failed are {failed}"

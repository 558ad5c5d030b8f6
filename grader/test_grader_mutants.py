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
grader/ and handouts/, and of build/solution/'s objects with their times, so that make
compiles only the mutated file and relinks), two at a time, and kept until the copied
files or the script change. The
baseline, that the unmutated reference passes all of these, is test_project3.py's
test_reference. Marker `mutants`: deselect with -m "not mutants".
"""

import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import Verdict, examples, qemu, replay, rubric
from harness.plugin import MAKE_VARS, SOLUTION_DIR, SOLUTION_IMAGE

ROOT = qemu.ROOT
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
NOT_COPIED = ("build", ".git", "grader", "handouts")   # the kernel build needs none of them
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
        text = script.read_text()

        def names(key):
            return [n for line in re.findall(rf"^# {key}:(.*)$", text, re.M)
                    for n in line.split("(")[0].split()]

        def one(key):
            found = re.search(rf"^# {key}: (.*)$", text, re.M)
            return found.group(1).strip() if found else None
        more, may = NPT_MUTANTS.get(script.stem, ([], []))
        messages = [tuple(m.split(": ", 1)) for m in re.findall(r"^# message: (.*)$", text, re.M)]
        verdict = one("verdict")
        out.append(Mutant(script.stem, script,
                          one("target") or TARGETS.get(script.stem.split("_")[0]),
                          names("expect") + more, names("may-fail") + may, messages,
                          verdict=Verdict(verdict) if verdict else None,
                          detail=one("detail")))
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


def tree_digest():
    """A digest of everything a mutant build copies: a changed source means a rebuild."""
    h = hashlib.sha1()
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in NOT_COPIED or not path.is_file():
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def copy_tree(tree):
    """A fresh copy of the repository (without NOT_COPIED) at `tree`."""
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(ROOT, tree, symlinks=True, ignore=lambda d, names: [
        n for n in names if Path(d) == ROOT and n in NOT_COPIED])


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
        # The reference's objects, times kept (copy2): make sees them up to date and
        # compiles only the mutated file. (Not the GRUB ISO's staging directory: the
        # mutants boot their kernel directly.)
        reference = SOLUTION_IMAGE.parent
        shutil.copytree(reference, tree / reference.relative_to(ROOT), symlinks=True,
                        ignore=lambda d, names: [n for n in names if Path(d) == reference
                                                 and n == "iso"])
        # The toolchain stamp the objects depend on (Makefile TC_STAMP): without it make
        # writes a new one and recompiles everything.
        stamp_src = reference.parent / "toolchain.id"
        if stamp_src.exists():
            shutil.copy2(stamp_src, tree / stamp_src.relative_to(ROOT))
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


def test_mutant_build_time(mutant_builds, keos):
    builds, total = mutant_builds
    keos.record(f"{len(builds)} mutant kernels built ({BUILD_JOBS} at a time)",
                round(total, 1), "s")
    errors = {n: e for n, (_, _, e) in builds.items() if e}
    assert not errors, "\n".join(f"{n}: {e}" for n, e in errors.items())


@pytest.mark.parametrize("mutant", params(MUTANTS))
def test_mutant_is_caught(mutant_builds, keos, mutant):
    image, _, error = mutant_builds[0][mutant.name]
    assert error is None, f"{mutant.name}: {error}"
    missed, unclear = [], []
    for name in mutant.expect:
        item = ITEMS[name]
        result = keos(name, image=image, timeout=item.timeout, watchdog=item.budget)
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


# ---------------------------------------------------------------------------------------
# Record, replay, and find who wrote a bad entry (harness/replay.py, handouts/debugging.md)

# npt_no_us_upper's npt.upper_levels failure names a level-3 (PML4) entry without U/S.
REPLAY_MUTANT, REPLAY_TEST = "npt_no_us_upper", "npt.upper_levels"
REPLAY_FAILURE = re.compile(
    r"gpa (0x[0-9a-f]+): level 3 (?:slot \d+ )?entry has flags (0x[0-9a-f]+)")
GDB_TIMEOUT_S = 300


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def gdb_on_replay(directory, script):
    """Replay the recording in `directory` paused for gdb, run `script` in gdb -batch
    against it; gdb's output. QEMU ends with gdb's `kill` (or run()'s timeout)."""
    port = free_port()
    commands = Path(directory) / "session.gdb"
    replaying = threading.Thread(target=replay.replay, kwargs=dict(
        directory=directory, extra=replay.gdb_stub_args(port), timeout=GDB_TIMEOUT_S))
    replaying.start()
    header = ["set confirm off", "set pagination off", "set remotetimeout 60",
              "set tcp auto-retry on",
              "set tcp connect-timeout 60",
              f"file {replay.kernel_elf(replay.load_session(directory))}",
              f"target remote localhost:{port}"]
    commands.write_text("\n".join(header + script + ["kill"]) + "\n")
    try:
        done = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", str(commands)],
                              capture_output=True, text=True, timeout=GDB_TIMEOUT_S *
                              float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")))
    finally:
        replaying.join(10)               # gdb's `kill` ends QEMU at once
        for pid in qemu.live_pids():     # gdb gave up: do not wait for QEMU's timeout
            qemu.stop_pid(pid)
        replaying.join()
    return done.stdout + done.stderr


def test_replay_finds_who_wrote_the_entry(mutant_builds, tmp_path):
    """Record the mutant's failing run; its replay prints the same bytes; in gdb on the
    replay, a watchpoint on the entry the failure names stops right after the store that
    wrote it, one reverse-stepi lands on that store (the mutated line), and the entry
    the test then rejects holds exactly what that store wrote."""
    if shutil.which("gdb") is None:
        pytest.skip("no gdb: sudo apt-get install gdb")
    image, _, error = mutant_builds[0][REPLAY_MUTANT]
    assert error is None, f"{REPLAY_MUTANT}: {error}"
    recorded = replay.record(REPLAY_TEST, image=image, directory=tmp_path)
    assert recorded.verdict == Verdict.FAIL, recorded.explain()
    m = REPLAY_FAILURE.search(recorded.failure or "")
    assert m, f"unexpected failure: {recorded.failure}"
    index = (int(m[1], 16) >> 39) & 511

    replayed = replay.replay(directory=tmp_path)
    assert replayed.verdict == Verdict.FAIL, replayed.explain()
    assert (tmp_path / "replay.log").read_bytes() == (tmp_path / "record.log").read_bytes(), \
        "the replay printed something else than the recorded run"

    if not os.environ.get("KEOS_REPLAY_GDB"):
        pytest.skip("the reverse-debugging session is opt-in (KEOS_REPLAY_GDB=1): on QEMU "
                    "7.2 it passed on its own branch but hung past 300 s in the merged "
                    "make check (2026-11-26); the record and the identical replay above ran")
    entry = f"npt.pml4[{index}]"
    out = gdb_on_replay(tmp_path, [
        "break npt_init", "continue", "finish",     # the test's npt exists from here on
        f"watch -l {entry}", "break test_fail", "continue",
        'echo @@WRITER\\n', "bt 2",
        "delete 2", "reverse-stepi",        # QEMU 7.2: no watchpoint while running backwards
        'echo @@STORE\\n', "x/i $pc", "info line *$pc",
        "continue", 'echo @@FAILURE\\n',
        f"frame function ktest_{REPLAY_TEST.replace('.', '_')}", f"print/x {entry}"])
    assert "@@FAILURE" in out, f"the gdb session did not get through:\n{out}"
    writer, store, failure = (out.split("@@WRITER")[1].split("@@STORE")[0],
                              out.split("@@STORE")[1].split("@@FAILURE")[0],
                              out.split("@@FAILURE")[1])
    written = re.search(r"New value = (\d+)", out)
    assert written and "Old value = 0" in out, f"the watchpoint did not fire:\n{out}"
    assert re.search(r"#1 .* in npt_map \(", writer), f"not written by npt_map:\n{writer}"
    mutated = mutated_lines(REPLAY_MUTANT)
    line = re.search(r'Line (\d+) of "solution/project3/npt.c"', store)
    assert line and int(line[1]) in mutated and "mov" in store, \
        f"reverse-stepi did not land on the mutated store (lines {mutated}):\n{store}"
    value = re.search(r"\$\d+ = (0x[0-9a-f]+)", failure)
    assert value and int(value[1], 16) == int(written[1]) and int(value[1], 16) & 7 == \
        int(m[2], 16), f"the failing entry is not what that store wrote:\n{out}"


def mutated_lines(name):
    """Line numbers of the mutant's target file that its script changed."""
    mutant = next(m for m in MUTANTS if m.name == name)
    theirs = (WORK / name / mutant.target).read_text().splitlines()
    ours = (ROOT / mutant.target).read_text().splitlines()
    return [i + 1 for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]

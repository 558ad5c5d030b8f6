"""Record/replay (harness/replay.py): the QEMU command line it builds, a real record and
replay of a short test, and the walkthrough of handouts/debugging.md: record a failing
NPT mutant, replay it, and in gdb on the replay run backwards to the store that wrote the
bad entry (reverse-continue on a watchpoint)."""

import json
import re
import shutil

import pytest

from harness import Verdict, qemu, replay
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE


def pairs(args):
    """[(option, value)] of a QEMU argument list; value None for a flag (-no-reboot)."""
    out, i = [], 0
    while i < len(args):
        value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else None
        out.append((args[i], value))
        i += 1 if value is None else 2
    return out


def drives(args):
    return [dict(o.split("=", 1) for o in v.split(",")) for o, v in pairs(args) if o == "-drive"]


@pytest.mark.parametrize("mode", ["record", "replay"])
def test_record_replay_args_iso_boot(mode):
    args = qemu.record_replay_args(qemu.qemu_args("npt.simple", image="k.iso", smp=4), mode,
                                   "/x/r.bin")
    opts = pairs(args)
    assert ("-smp", "1") in opts and ("-accel", "tcg,thread=single") in opts
    assert ("-net", "none") in opts
    assert ("-global", "apic.vapic=off") in opts, "kvmvapic deadlocks reverse debugging"
    assert ("-icount", f"shift=auto,rr={mode},rrfile=/x/r.bin") in opts
    assert "-cdrom" not in args, "the CD must go through blkreplay too"
    images = {d["id"]: d for d in drives(args) if "file" in d}
    filters = {d["id"]: d for d in drives(args) if d.get("driver") == "blkreplay"}
    assert len(images) == len(filters) == 2, drives(args)
    for f in filters.values():
        image = images[f["image"]]
        assert image.get("snapshot") == "on" and "readonly" not in image, image
    # Every device names a blkreplay filter, under the id the harness gave the drive.
    devices = [v for o, v in opts if o == "-device" and "drive=" in v]
    named = {dict(p.split("=", 1) for p in d.split(",")[1:] if "=" in p)["drive"]
             for d in devices}
    assert named == set(filters), devices
    assert "disk0" in filters


def test_record_replay_args_kernel_boot():
    """The direct boot (-kernel, no CD) keeps its kernel options as they are."""
    args = qemu.qemu_args("npt.simple", image="build/kernel.elf", smp=2)
    out = qemu.record_replay_args(args, "record", "r.bin")
    assert out[out.index("-kernel") + 1] == "build/kernel.elf"
    assert [d.get("driver", "file") for d in drives(out)] == ["file", "blkreplay"]
    assert ("-smp", "1") in pairs(out)


def test_record_replay_args_bad_mode():
    with pytest.raises(ValueError, match="record or replay"):
        qemu.record_replay_args([], "rewind", "r.bin")


def test_replay_without_recording_says_so(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="make record"):
        replay.load_session(tmp_path)
    (tmp_path / "session.json").write_text(json.dumps({"rrfile": str(tmp_path / "gone")}))
    with pytest.raises(FileNotFoundError, match="record again"):
        replay.load_session(tmp_path)


@pytest.mark.kernel
@pytest.mark.parametrize("test", [
    "mmio.print",           # a guest with MMIO exits
    "pager.boot_keos",      # the guest KeOS, paged in from the disk, many #NPF exits
])
def test_record_and_replay_print_the_same(keos_build, tmp_path, test):
    """The replay prints the same bytes. pager.boot_keos did not replay until kev ran
    guests with host interrupts off under record (kev/svm.c: QEMU 7.2 records a timer's
    INTR #VMEXIT as an exception and never replays it; the replay stalled in the first
    disk read of the fault path)."""
    solution = SOLUTION_DIR.is_dir()
    if test.startswith("pager.") and not solution:
        pytest.skip("solution/ is not here: the student's pager may not run a guest yet")
    image = SOLUTION_IMAGE if solution else qemu.IMAGE
    keos_build.ensure(image)
    recorded = replay.record(test, image=image, directory=tmp_path)
    assert recorded.verdict in ((Verdict.PASS,) if solution else
                                (Verdict.PASS, Verdict.NOT_IMPLEMENTED)), recorded.explain()
    assert "(recorded: no host interrupt ends a guest's run)" in recorded.log_text, \
        "the kernel was not told it runs under record (opt/keos/record)"
    replayed = replay.replay(directory=tmp_path)
    assert replayed.verdict == recorded.verdict, replayed.explain()
    assert (tmp_path / "replay.log").read_bytes() == (tmp_path / "record.log").read_bytes()


# ---------------------------------------------------------------------------------------
# Record, replay, and find who wrote a bad entry (handouts/debugging.md)

# npt_no_us_upper's npt.upper_levels failure names a level-3 (PML4) entry without U/S.
REPLAY_MUTANT, REPLAY_TEST = "npt_no_us_upper", "npt.upper_levels"
REPLAY_FAILURE = re.compile(
    r"gpa (0x[0-9a-f]+): level 3 (?:slot \d+ )?entry has flags (0x[0-9a-f]+)")


@pytest.fixture(scope="module")
def failing_recording(keos_build, tmp_path_factory):
    """(directory, the failure's gpa, its flags, the mutated lines): the mutant's failing
    run, recorded."""
    if not SOLUTION_DIR.is_dir():
        pytest.skip("solution/ is not here: no reference to mutate")
    import test_grader_mutants as mutants   # the mutant builds (not in a student handout)
    keos_build.ensure(SOLUTION_IMAGE)       # build/disk.img and the objects a mutant reuses
    mutant = next(m for m in mutants.MUTANTS if m.name == REPLAY_MUTANT)
    image, _, error = mutants.build(mutant, mutants.tree_digest())
    assert error is None, f"{REPLAY_MUTANT}: {error}"
    directory = tmp_path_factory.mktemp("replay")
    recorded = replay.record(REPLAY_TEST, image=image, directory=directory)
    assert recorded.verdict == Verdict.FAIL, recorded.explain()
    m = REPLAY_FAILURE.search(recorded.failure or "")
    assert m, f"unexpected failure: {recorded.failure}"
    theirs = (mutants.WORK / mutant.name / mutant.target).read_text().splitlines()
    ours = (qemu.ROOT / mutant.target).read_text().splitlines()
    mutated = [i + 1 for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    return directory, int(m[1], 16), int(m[2], 16), mutated


@pytest.mark.kernel
def test_failing_mutant_replays_identically(failing_recording):
    directory = failing_recording[0]
    replayed = replay.replay(directory=directory)
    assert replayed.verdict == Verdict.FAIL, replayed.explain()
    assert (directory / "replay.log").read_bytes() == (directory / "record.log").read_bytes(), \
        "the replay printed something else than the recorded run"


def between(text, start, end):
    assert start in text and end in text, f"the gdb session did not get through:\n{text}"
    return text.split(start, 1)[1].split(end, 1)[0]


@pytest.mark.kernel
def test_reverse_continue_finds_who_wrote_the_entry(failing_recording):
    """handouts/debugging.md's walkthrough: stop at the failure, watch the entry it
    names, reverse-continue: the replay stops right after the last store to it, in
    npt_map's walk; one reverse-stepi lands on that store, the mutated line, and the
    entry then still holds its old value."""
    if shutil.which("gdb") is None:
        pytest.skip("no gdb: sudo apt-get install gdb")
    directory, gpa, flags, mutated = failing_recording
    entry = f"npt.pml4[{(gpa >> 39) & 511}]"
    out = replay.gdb_session([
        "break test_fail", "continue",
        f"frame function ktest_{REPLAY_TEST.replace('.', '_')}",
        "echo @@FAILURE\\n", f"print/x {entry}",
        "delete 1", f"watch -l {entry}", "reverse-continue",
        "echo @@WRITER\\n", "bt 2", f"print/x {entry}",
        "reverse-stepi",
        "echo @@STORE\\n", "x/i $pc", "info line *$pc", f"print/x {entry}",
        "echo @@END\\n"], directory=directory)
    failure, writer, store = (between(out, "@@FAILURE", "@@WRITER"),
                              between(out, "@@WRITER", "@@STORE"), between(out, "@@STORE", "@@END"))
    value = re.search(r"\$\d+ = (0x[0-9a-f]+)", failure)
    assert value and int(value[1], 16) & 7 == flags, f"not the entry the test rejected:\n{out}"
    assert re.search(r"#0 .*walk .*\n#1 .* in npt_map \(", writer), \
        f"reverse-continue did not stop in npt_map's walk:\n{writer}"
    assert f"= {value[1]}" in writer, f"not stopped after the store of {value[1]}:\n{writer}"
    line = re.search(r'Line (\d+) of "solution/project3/npt.c"', store)
    assert line and int(line[1]) in mutated and "mov" in store, \
        f"reverse-stepi did not land on the mutated store (lines {mutated}):\n{store}"
    before = re.search(r"\$\d+ = (0x[0-9a-f]+)", store)
    assert before and before[1] != value[1], f"the entry already held {value[1]}:\n{store}"

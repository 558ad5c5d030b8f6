"""Record/replay (harness/replay.py): the QEMU command line it builds, and a real record
and replay of a short test. The mutant walkthrough (gdb on a replay, who wrote the bad
entry) is in test_grader_mutants.py, next to the mutants it needs."""

import json

import pytest

from harness import Verdict, qemu, replay


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
def test_record_and_replay_print_the_same(keos_build, tmp_path):
    """mmio.print runs a guest (VMRUN, MMIO exits): its replay prints the same bytes."""
    keos_build.ensure(qemu.IMAGE)
    recorded = replay.record("mmio.print", image=qemu.IMAGE, directory=tmp_path)
    assert recorded.verdict in (Verdict.PASS, Verdict.NOT_IMPLEMENTED), recorded.explain()
    replayed = replay.replay(directory=tmp_path)
    assert replayed.verdict == recorded.verdict, replayed.explain()
    assert (tmp_path / "replay.log").read_bytes() == (tmp_path / "record.log").read_bytes()

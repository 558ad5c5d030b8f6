"""The fault map (harness/faultmap.py, kev/faultlog.c): parsing, the terminal map, the SVG,
and, on the reference kernel, that the map tells the same story as the pager's own counts.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import faultmap


# A small made-up run: two segments (the second with a bss tail), one host fault outside
# the image, a race on page 0x101 and a page read twice.
LOG = """\
KEOS-READY
FAULTMAP begin vm=7 image=tiny.elf vcpus=2 events=6 dropped=0
FAULTMAP seg 0 paddr=100000 filesz=1800 memsz=1800
FAULTMAP seg 1 paddr=102000 filesz=800 memsz=3000
FAULTMAP ev 9Zha 100L0a 101L1a 101R01 102L19 104L0a
FAULTMAP ev 104L1a
FAULTMAP end vm=7
TEST-PASS x ms=1
"""
SVG_NS = "{http://www.w3.org/2000/svg}"


def one_map(text=LOG):
    maps = faultmap.parse(text)
    assert len(maps) == 1, f"expected one map in:\n{text}"
    return maps[0]


def test_parse():
    fm = one_map()
    assert (fm.vm, fm.image, fm.vcpus, fm.dropped, fm.complete) == (7, "tiny.elf", 2, 0, True)
    assert [s.paddr for s in fm.segments] == [0x100000, 0x102000]
    assert len(fm.events) == 7
    assert fm.events[0] == faultmap.Event(9, faultmap.HOST, 10, "Z")
    assert fm.events[3] == faultmap.Event(0x101, 0, 31, "R")


def test_counts():
    fm = one_map()
    assert fm.image_pages() == [0x100, 0x101, 0x102, 0x103, 0x104]
    assert fm.loads() == {0x100: 1, 0x101: 1, 0x102: 1, 0x104: 2}
    assert fm.raced_pages() == {0x101}
    assert fm.zero_pages() == [9]
    assert fm.summary() == ("4 of 5 image pages loaded; 1 read twice; 1 zero page outside "
                            "the image; 1 concurrent arrival")


def test_terminal_map_one_char_per_page():
    text = faultmap.terminal(one_map())
    rows = {line.split()[1]: line.split()[-1] for line in text.splitlines()
            if line.startswith("  seg ")}
    # seg 0: 0x100 loaded, 0x101 raced; seg 1: 0x102 loaded, 0x103 untouched (bss),
    # 0x104 read twice.
    assert rows == {"0": "#!", "1": "#.2"}, text
    assert "4 of 5 image pages loaded; 1 read twice" in text


def test_bss_pages_are_marked_as_zero_pages():
    fm = one_map(LOG.replace("104L1a", "103L1a"))
    assert faultmap.terminal(fm).splitlines()[2].endswith("#zz")


@pytest.mark.parametrize("damage, says", [
    (lambda t: t.replace("dropped=0", "dropped=12"), "12 events dropped (ring full)"),
    (lambda t: t.replace("FAULTMAP end vm=7\n", ""), "the log ends before the map does"),
    (lambda t: t.replace("104L0a", "104E0a"), "1 pager errors"),
], ids=["ring-full", "cut-off", "error"])
def test_summary_tells_what_is_missing(damage, says):
    assert says in one_map(damage(LOG)).summary()


def test_garbage_is_ignored_not_fatal():
    text = LOG.replace("FAULTMAP ev 104L1a", "FAULTMAP ev 104Lzz junk 105Q11 1:0:0:L")
    text += "FAULTMAP seg 0 paddr=100000\nFAULTMAP ev 1L00\nFAULTMAP begin vm=x\n"
    fm = one_map(text)
    assert len(fm.events) == 6
    assert faultmap.parse("no map here\n") == []


def test_svg_is_well_formed_and_says_what_it_shows():
    fm = one_map()
    root = ET.fromstring(faultmap.svg(fm))
    words = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG_NS}text"))
    for expected in ("tiny.elf", fm.summary(), "vCPU0", "vCPU1", "the host",
                     "segment 0 at 0x100000: 2 of 2 pages loaded", "bss", "a race"):
        assert expected in words, f"the SVG does not say {expected!r}: {words}"
    dots = [c for c in root.iter(f"{SVG_NS}circle") if c.get("fill") != "none"]
    rings = [c for c in root.iter(f"{SVG_NS}circle") if c.get("fill") == "none"]
    assert len(dots) == len(fm.events)
    assert len(rings) == 1
    assert {d.get("fill") for d in dots} == {faultmap.vcpu_color(0), faultmap.vcpu_color(1),
                                             faultmap.HOST_COLOR}


def test_svgs_next_to_the_log_replace_old_ones(tmp_path):
    log = tmp_path / "t.log"
    two = LOG + LOG.replace("vm=7", "vm=8")
    paths = faultmap.write_svgs(two, log)
    assert [p.name for p in paths] == ["t.log.faultmap.svg", "t.log.faultmap-8.svg"]
    assert all(p.exists() for p in paths)
    assert faultmap.write_svgs("no map\n", log) == []
    assert not list(tmp_path.glob("*.svg"))


def test_cli(tmp_path, capsys):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    assert faultmap.main([str(log), "--svg", str(tmp_path / "m.svg")]) == 0
    out = capsys.readouterr().out
    assert "Fault map of tiny.elf" in out and (tmp_path / "m.svg").exists()
    log.write_text("nothing\n")
    assert faultmap.main([str(log), "--quiet-if-none"]) == 0
    assert faultmap.main([str(log)]) == 1
    assert faultmap.main([str(tmp_path / "missing.log")]) == 2
    assert "cannot read" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# On the reference kernel: the map agrees with the pager's own statistics (METRIC lines).

@pytest.mark.kernel
@pytest.mark.timeout_s(90)
def test_map_agrees_with_the_pager(keos_solution):
    result = keos_solution("pager.boot_keos,pager.stress")
    result.expect_pass()
    maps = faultmap.parse(result.log_text)
    rounds = result.metric("rounds", "pager.stress")      # one VM per round, 1 to 5
    assert [fm.image for fm in maps] == ["keos.elf"] + ["stress.elf"] * rounds
    assert all(fm.complete and fm.dropped == 0 for fm in maps)
    boot, stress = maps[0], maps[1:]
    assert len(boot.loads()) == result.metric("pages_loaded", "pager.boot_keos")
    assert len(boot.image_pages()) == result.metric("image_pages", "pager.boot_keos")
    assert len(boot.zero_pages()) == result.metric("zero_pages", "pager.boot_keos")
    # Every pager call is in the maps: faults, and arrivals that found the page mapped.
    assert sum(len(fm.events) for fm in stress) == result.metric("faults", "pager.stress")
    races = sum(1 for fm in stress for e in fm.events if e.outcome == faultmap.RACED)
    assert races == result.metric("concurrent_arrivals", "pager.stress")
    assert all(max(fm.loads().values()) == 1 for fm in maps), "a page was read twice"
    svg = Path(result.log_path + ".faultmap.svg")
    assert svg.exists(), f"no SVG next to {result.log_path}"
    assert "keos.elf" in svg.read_text()

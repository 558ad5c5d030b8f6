"""The guest KeOS's memory layout as the documents give it, against the built ELF.

handouts/project3.md shows `readelf -lW build/guests/keos.elf` and guests/README.md a
table of its segments; students and TAs read addresses off them, so they must be the
build's. The guest must also stay clear of the host kernel's virtual addresses, so gdb
can hold both symbol files (.gdbinit), and the page_off mutant's expected message
(grader/mutants/pager_page_off_zero.sed) names the page and page_off of this layout.
"""
import re
import struct

import pytest

from harness import qemu
from harness.paths import ROOT

GUEST_ELF = qemu.BUILD / "guests" / "keos.elf"
HOST_ELF = qemu.BUILD / "kernel.elf"
MANUAL = ROOT / "handouts" / "project3.md"
GUESTS_README = ROOT / "guests" / "README.md"
PAGE_OFF_MUTANT = ROOT / "grader" / "mutants" / "pager_page_off_zero.sed"
PT_LOAD = 1


def load_segments(path):
    """(entry, [dict(offset, vaddr, paddr, filesz, memsz, flags)]) of an ELF64 file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not an ELF file"
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    segs = []
    for i in range(phnum):
        p_type, flags, offset, vaddr, paddr, filesz, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            segs.append(dict(offset=offset, vaddr=vaddr, paddr=paddr, filesz=filesz,
                             memsz=memsz, flags=flags))
    return entry, segs


@pytest.fixture(scope="module")
def guest(keos_build):
    keos_build.ensure()            # make: the disk image holds build/guests/keos.elf
    return load_segments(GUEST_ELF)


def flag_text(flags):
    """As readelf prints them: R, W, E in fixed places ("R E", "RW")."""
    return "".join(c if flags & bit else " " for bit, c in ((4, "R"), (2, "W"), (1, "E"))).strip()


def test_manual_readelf_block(guest):
    entry, segs = guest
    text = MANUAL.read_text()
    rows = re.findall(r"^  LOAD  (0x\w+) (0x\w+) (0x\w+) (0x\w+) (0x\w+) ([RWE ]+?)\s{2,}",
                      text, re.M)
    doc = [dict(offset=int(o, 16), vaddr=int(v, 16), paddr=int(p, 16), filesz=int(f, 16),
                memsz=int(m, 16), flags=fl.strip()) for o, v, p, f, m, fl in rows]
    built = [dict(s, flags=flag_text(s["flags"])) for s in segs]
    assert doc == built, (f"{MANUAL.name}'s readelf block is not the build's:\n"
                          f"  manual: {doc}\n  build:  {built}\n(readelf -lW {GUEST_ELF})")
    m = re.search(r"^Entry point (0x\w+)", text, re.M)
    assert m and int(m.group(1), 16) == entry, \
        f"{MANUAL.name}: entry point {m and m.group(1)}, the build's is {entry:#x}"


def test_guests_readme_table(guest):
    _, segs = guest
    rows = re.findall(r"^\| (\w+) \| [RWX ]+ \| (0x\w+)–(0x\w+)(?:, file part up to (0x\w+))?",
                      GUESTS_README.read_text(), re.M)
    assert len(rows) == len(segs), f"{GUESTS_README}: {len(rows)} rows, {len(segs)} segments"
    for (name, start, end, file_end), s in zip(rows, segs):
        want = (s["paddr"], s["paddr"] + s["memsz"])
        assert (int(start, 16), int(end, 16)) == want, \
            f"{GUESTS_README}: {name} is {start}–{end}, the build's is {want[0]:#x}–{want[1]:#x}"
        if file_end:
            assert int(file_end, 16) == s["paddr"] + s["filesz"], \
                f"{GUESTS_README}: {name}'s file part ends at {s['paddr'] + s['filesz']:#x}"


def test_guest_and_host_do_not_overlap(guest):
    _, guest_segs = guest
    _, host_segs = load_segments(HOST_ELF)
    for g in guest_segs:
        for h in host_segs:
            assert g["vaddr"] + g["memsz"] <= h["vaddr"] or h["vaddr"] + h["memsz"] <= g["vaddr"], \
                (f"guest KeOS {g['vaddr']:#x}+{g['memsz']:#x} overlaps the host kernel's "
                 f"{h['vaddr']:#x}+{h['memsz']:#x}: gdb cannot tell their symbols apart")


def test_page_off_mutant_message_matches_layout(guest):
    """The second segment starts mid-page: its page and page_off are in the message."""
    _, segs = guest
    rodata = segs[1]
    page, page_off = rodata["paddr"] & ~0xFFF, rodata["paddr"] & 0xFFF
    assert page_off, "the rodata segment no longer starts mid-page (linker.ld)"
    want = f"page {page:#x}: loader for segment 1 has page_off 0x0, expected {page_off:#x}"
    assert want in PAGE_OFF_MUTANT.read_text(), \
        f"{PAGE_OFF_MUTANT.name} should expect {want!r} with this layout"

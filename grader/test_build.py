"""The build in each configuration: toolchains, boot paths, dependency tracking.

* test_reference_passes_every_rubric_test: the reference solution, built with another
  toolchain or booted another way, still passes every rubric test within its budget (in
  one boot: the build and the boot are under test, not the tests' isolation), and
  grade.py grades it (one test; the default configuration's full grade, gcc + direct
  boot, is test_project3.py's). Each configuration has its own build directory, so
  nothing is rebuilt for another.
* test_header_change_rebuilds_the_same_objects: after a change to a shared header,
  `make -n` rebuilds the same objects for the student build as for the solution's, with
  gcc and with clang (so no disk image or guest goes stale in one of them).
* test_kernel_image_loads_as_multiboot1: the kernel's file bytes from the multiboot1
  header on are its memory image, which is what QEMU's -kernel relies on.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ktests, qemu, rubric
from harness.paths import ROOT
from harness.plugin import make_locked as make

SOLUTION = ROOT / "solution" / "project3"
ITEMS = rubric.load()
RUBRIC_SELECTION = rubric.selection(ktests.from_sources(ROOT))   # exactly the rubric's tests
GRADED_TEST = "pager.boot_keos"             # boots the guest KeOS from the disk


def have(*programs):
    return all(shutil.which(p) for p in programs)


GRUB_MISSING = None if have("grub-mkrescue", "xorriso", "mformat") and \
    Path("/usr/lib/grub/i386-pc").is_dir() else \
    "GRUB's BIOS files or xorriso/mtools are missing (grub-pc-bin exists for x86 hosts only)"
LLVM_MISSING = None if have("clang", "ld.lld", "llvm-nm") else "clang, ld.lld or llvm-nm is missing"

# (id, make variables, build directory, image, why it cannot run here or None)
CONFIGS = [
    ("llvm-direct", ["TOOLCHAIN=llvm", "BOOT=direct"], "build/llvm", "kernel.elf", LLVM_MISSING),
    ("gnu-iso", ["BOOT=iso"], "build", "keos.iso", GRUB_MISSING),
]


@pytest.mark.kernel
@pytest.mark.skipif(not SOLUTION.is_dir(), reason="no solution/ in this copy")
@pytest.mark.parametrize("variables, out, image, missing",
                         [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_reference_passes_every_rubric_test(keos, variables, out, image, missing):
    if missing:
        pytest.skip(missing)
    made = make("SOLUTION=1", *variables, "all")
    assert made.returncode == 0, f"make SOLUTION=1 {' '.join(variables)}:\n" \
        f"{(made.stdout + made.stderr)[-3000:]}"
    image, disk = ROOT / out / "solution" / image, ROOT / out / "disk.img"
    # What is tested is the build and the boot, not the tests' isolation: every rubric
    # test in one boot, each within its own watchdog budget.
    result = keos(RUBRIC_SELECTION, image=image, disk=disk,
                  timeout=sum(i.timeout for i in ITEMS), watchdog=max(i.budget for i in ITEMS))
    result.expect_pass()
    assert sorted(result.tests) == sorted(i.name for i in ITEMS), \
        f"{RUBRIC_SELECTION} did not run exactly the rubric's tests\n{result.explain()}"
    slow = {i.name: result.tests[i.name].ms for i in ITEMS
            if (result.tests[i.name].ms or 0) > 1000 * i.budget}
    assert not slow, f"over their rubric budget (ms): {slow}"
    # And grade.py on this image (its boot path), for the test that boots the guest KeOS.
    item = next(i for i in ITEMS if i.name == GRADED_TEST)
    logs = qemu.LOG_DIR / f"config-{image.parent.parent.name}-{image.suffix[1:]}"
    graded = subprocess.run([sys.executable, str(ROOT / "grader" / "grade.py"), "-q",
                             "--image", str(image), "--disk", str(disk), "--only", item.name,
                             "--expect-score", str(item.points)],
                            cwd=ROOT, env=dict(os.environ, KEOS_LOG_DIR=str(logs)),
                            capture_output=True, text=True, timeout=900)
    out_text = graded.stdout + graded.stderr
    assert graded.returncode == 0, f"grade.py on {image}:\n{out_text}"


HEADER = "keos/types.h"


def dependency_files():
    """The .d files of this repository's own builds (build/, build/solution/, build/llvm/):
    not of the copies in build/ (mutants, course copies), which other tests make and
    delete while this one reads."""
    build = ROOT / "build"
    yield from build.glob("*.d")
    for folder in ("keos", "kev", "project3", "guests", "solution", "llvm"):
        yield from (build / folder).rglob("*.d")


def spellings(header):
    """Every way the dependency files name `header` (gcc writes keos/tests/../types.h,
    clang keos/types.h): make's -W matches names, not files."""
    names = {header}
    for dep in dependency_files():
        try:
            text = dep.read_text(errors="replace")
        except FileNotFoundError:   # a build in another worker is writing it again
            continue
        for word in text.split():
            word = word.rstrip(":")
            if word.endswith(Path(header).name) and os.path.normpath(word) == header:
                names.add(word)
    return sorted(names)


def compiled_sources(*variables):
    """The sources `make -n` would compile if keos/types.h changed (-W: as if it had,
    without touching it), with solution/ mapped onto the student's file names and the
    generated symbol tables (build/.../ksyms.S) by their names alone."""
    what_if = [arg for name in spellings(HEADER) for arg in ("-W", name)]
    done = make("-n", *what_if, *variables, "all", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    sources = set()
    for line in done.stdout.splitlines():
        m = re.search(r" -c (\S+\.[cS]) ", line)
        if m:
            source = m.group(1).removeprefix("solution/")
            sources.add(Path(source).name if source.startswith("build/") else source)
    return sources


@pytest.mark.skipif(not SOLUTION.is_dir(), reason="no solution/ in this copy")
@pytest.mark.parametrize("variables, missing", [
    (["SOLUTION=1"], None),
    (["TOOLCHAIN=llvm", "SOLUTION=1"], LLVM_MISSING),
], ids=["solution", "llvm-solution"])
def test_header_change_rebuilds_the_same_objects(variables, missing):
    if missing:
        pytest.skip(missing)
    # make -n reads the builds' dependency files, and lists what is out of date anyway:
    # both builds are brought up to date first, built or not (skipping an unbuilt one made
    # the check depend on which test ran first; skipping a built one failed it after any
    # source edit, until test_reference_passes_every_rubric_test rebuilt the llvm tree).
    for build in ([], variables):
        made = make(*build, "all")
        assert made.returncode == 0, f"make {' '.join(build)} all:\n" \
            f"{(made.stdout + made.stderr)[-3000:]}"
    student = compiled_sources()
    other = compiled_sources(*variables)
    assert {"keos/mm.c", "keos/tests/fs_tests.c"} <= student, \
        f"keos/mm.c and keos/tests/fs_tests.c include types.h: {sorted(student)}"
    assert "guests/keos/main.c" in student, \
        f"the guest KeOS includes types.h, so it must be rebuilt: {sorted(student)}"
    assert student == other, (f"only for the student: {sorted(student - other)}; "
                              f"only for {' '.join(variables)}: {sorted(other - student)}")


def load_segments(image):
    """[(file offset, physical address, file size)] of an ELF64 file's PT_LOAD segments."""
    phoff, = struct.unpack_from("<Q", image, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", image, 0x36)
    segments = []
    for i in range(phnum):
        p_type, _, offset, _, paddr, filesz = struct.unpack_from("<IIQQQQ", image,
                                                                 phoff + i * phentsize)
        if p_type == 1 and filesz:
            segments.append((offset, paddr, filesz))
    return segments


@pytest.mark.kernel
def test_kernel_image_loads_as_multiboot1(keos_build):
    keos_build.ensure(qemu.BUILD / "kernel.elf")
    image = (qemu.BUILD / "kernel.elf").read_bytes()
    at = image.find(struct.pack("<I", 0x1BADB002), 0, 8192)
    assert at >= 0 and at % 4 == 0, "no multiboot1 header in the first 8 KiB"
    magic, flags, checksum, header, load, load_end, bss_end, entry = \
        struct.unpack_from("<8I", image, at)
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0, "bad checksum"
    assert flags & (1 << 16), "no address fields (a.out kludge): QEMU refuses an ELF64"
    assert load <= header < load_end <= bss_end and load <= entry < load_end
    for offset, paddr, filesz in load_segments(image):
        assert offset - at == paddr - header, (
            f"segment at file offset {offset:#x} is not where -kernel puts it "
            f"(physical {paddr:#x}): file and memory layouts differ")
        assert paddr + filesz <= load_end, f"segment at {paddr:#x} ends after load_end_addr"

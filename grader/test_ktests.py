"""Which kernel tests exist (harness/ktests.py): the selection rule the kernel uses, and
the built kernel's .ktests table against the KTEST() lines of the sources."""

import pytest

from harness import ktests
from harness import qemu as hq


def test_selected_matches_as_the_kernel_does():
    names = ["keos.fs_a", "keos.fs_b", "keos.palloc", "kev.fs_x"]
    assert ktests.selected(names, "keos.fs*") == ["keos.fs_a", "keos.fs_b"]
    assert ktests.selected(names, "keos.palloc,kev.*") == ["keos.palloc", "kev.fs_x"]
    assert ktests.selected(names, "keos.fs") == []      # a name without '*' is exact


@pytest.mark.kernel
def test_elf_test_list_matches_the_sources(keos_build):
    """harness/ktests.py reads the .ktests table of the built kernel: it must list exactly
    the KTEST()s of the sources, in an order the runner can use."""
    keos_build.ensure()
    elf = hq.BUILD / "kernel.elf"
    in_elf = ktests.from_elf(elf)
    assert len(in_elf) == len(set(in_elf)), "a test is linked twice"
    assert sorted(in_elf) == ktests.from_sources(hq.ROOT), \
        f"{elf} is stale or the reader is wrong: run make"
    assert {n.split(".")[0] for n in in_elf} >= {"keos", "kev", "npt", "selftest"}


def test_elf_reader_rejects_other_files(tmp_path):
    bogus = tmp_path / "x.elf"
    bogus.write_bytes(b"not an ELF file at all" * 10)
    with pytest.raises(ktests.ElfError):
        ktests.from_elf(bogus)

"""Every keos.* self-test of the kernel on the student kernel (build/kernel.elf, or
--keos-image): these tests need nothing the students write, so they pass on any build.
One QEMU runs them all (their isolation is not what they test); a test that does not
pass there runs again in its own QEMU, for its own report (run_alone_if_not_passed).

The names come from the KTEST() lines of the sources (harness/ktests.py), so a new test
is picked up without editing this file; test_ktests.py checks that the built kernel
holds the same list. Some tests get extra checks on what they print (METRIC lines).
"""

import zlib

import pytest

from harness import ktests, qemu
from harness.paths import ROOT
from harness.plugin import run_alone_if_not_passed

ROOTFS = ROOT / "rootfs"
# Files the build adds to the disk: big.bin, and the guest kernels the pager boots.
GENERATED = (qemu.BUILD / "rootfs", qemu.BUILD / "guests")
SMP = qemu.SMP             # keos/machine.h

KEOS_TESTS = ktests.in_group(ktests.from_sources(ROOT), "keos")


def host_file(name):
    """The host copy of a file packed into the disk image, or None."""
    for d in (ROOTFS, *GENERATED):
        if (d / name).is_file():
            return d / name
    return None


def check_crc32(result):
    """The kernel's CRC-32 of every file it read equals zlib's of the host's copy."""
    reported = {key.split(":", 1)[1]: value
                for (_, key), value in result.metrics.items() if key.startswith("crc32:")}
    packed = {p.name for p in ROOTFS.iterdir() if p.is_file() and p.name != "README.md"}
    missing = packed - set(reported)
    assert not missing, f"files in rootfs/ the kernel did not read: {sorted(missing)}"
    assert result.metric("files", test="keos.fs_crc32") == len(reported)
    for name, crc in sorted(reported.items()):
        path = host_file(name)
        assert path is not None, f"the disk holds {name}, which is in none of " \
            f"{[str(d) for d in (ROOTFS, *GENERATED)]}"
        want = zlib.crc32(path.read_bytes())
        assert crc == want, \
            f"{name}: the kernel read bytes with CRC-32 {crc:#010x}, {path} has {want:#010x}"


def check_threads(result):
    ncpu = result.metric("ncpu", test="keos.threads_all_cpus")
    assert ncpu == SMP, f"QEMU has {SMP} CPUs, the kernel used {ncpu}"


EXTRA_CHECKS = {
    "keos.fs_crc32": check_crc32,
    "keos.threads_all_cpus": check_threads,
}


def test_the_suite_is_not_empty():
    assert len(KEOS_TESTS) >= 5, f"only {KEOS_TESTS} found in the sources"
    assert set(EXTRA_CHECKS) <= set(KEOS_TESTS), "a check names a test that is gone"


@pytest.mark.kernel
@pytest.mark.timeout_s(30)
@pytest.mark.parametrize("name", KEOS_TESTS)
def test_keos(keos, name):
    result = run_alone_if_not_passed(keos, "keos.*", name, smp=SMP)
    assert name in result.tests, f"{result.selection} did not run {name}"
    if name in EXTRA_CHECKS:
        EXTRA_CHECKS[name](result)

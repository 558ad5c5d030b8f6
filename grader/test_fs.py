"""The kernel's storage stack (PCI, virtio-blk, file system) against the host's files.

The kernel tests keos.fs_* (keos/tests/fs_tests.c) print the CRC-32 of every file
they read from the disk; here they are compared with zlib.crc32() of the same
files as packed into the disk image (build/disk.img; parsed with the FS.md reader of
test_mkrootfs.py) and, for files that come from rootfs/, of the files themselves.
"""

import zlib

import pytest

from harness.qemu import DISK
from harness.paths import ROOT
from harness.plugin import run_alone_if_not_passed
from test_mkrootfs import read_image


@pytest.mark.kernel
@pytest.mark.timeout_s(60)
def test_fs_reads_match_the_host(keos):
    result = run_alone_if_not_passed(keos, "keos.*", "keos.fs*")

    _, files = read_image(DISK)
    on_disk = {f["name"]: zlib.crc32(f["data"]) for f in files}
    reported = {key.split(":", 1)[1]: value
                for (test, key), value in result.metrics.items()
                if key.startswith("crc32:") and test.startswith("keos.fs")}
    assert reported == on_disk, "the kernel read different bytes than the image holds"
    for name, crc in reported.items():
        host = ROOT / "rootfs" / name
        if host.is_file():
            assert crc == zlib.crc32(host.read_bytes()), f"rootfs/{name} differs from the disk"
    assert "big.bin" in reported, "the disk lacks big.bin (see rootfs/README.md)"


@pytest.mark.kernel
def test_concurrent_reads_overlapped(keos):
    name = "keos.fs_concurrent_reads"
    result = run_alone_if_not_passed(keos, "keos.*", name)
    # Otherwise the test passed without testing what it is for.
    assert result.metric("overlapping_reads", test=name) > 0, \
        "no two reads were ever in flight together"

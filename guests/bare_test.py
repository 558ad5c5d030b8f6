#!/usr/bin/python3
"""Boot the guest kernels under plain QEMU, without KeV, through GRUB.

Both guests are multiboot2 kernels, so GRUB can load them eagerly, the way a
correct loader would, and they must pass their own checks; then the same
images, damaged the way a wrong pager damages memory, must fail with the
right exit code. Only the -DGUEST_BARE builds run here: they end through
QEMU's isa-debug-exit port (status = code << 1 | 1) instead of VMMCALL, and
the stress guest runs on one CPU (its barriers time out).

    guests/bare_test.py BUILD_DIR        (make guests-bare-test does it)

The QEMU command line comes from the harness (grader/harness/qemu.py): the same machine
as the tests', without SVM, on one CPU.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grader"))
from harness import qemu  # noqa: E402  (after the path fix above)

QEMU = [qemu.QEMU] + qemu.machine_args(cpu="qemu64", smp=1, memory="256M", accel="tcg") + \
    ["-serial", "stdio"]
TIMEOUT = 30


def sections(image):
    """{name: (addr, offset, size)} from an ELF64 file's section headers."""
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", image, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = headers[shstrndx][4]
    result = {}
    for name_off, _type, _flags, addr, offset, size in headers:
        end = image.index(b"\0", strtab_off + name_off)
        result[image[strtab_off + name_off:end].decode()] = (addr, offset, size)
    return result


def flip_byte(image, offset):
    image[offset] ^= 0x40


def run(elf_bytes, workdir, name):
    """Boot elf_bytes through GRUB; returns (exit status, serial output, seconds)."""
    iso_root = os.path.join(workdir, name)
    os.makedirs(os.path.join(iso_root, "boot", "grub"))
    with open(os.path.join(iso_root, "boot", "guest.elf"), "wb") as f:
        f.write(elf_bytes)
    with open(os.path.join(iso_root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write("set timeout=0\nset default=0\n"
                "menuentry guest {\n\tmultiboot2 /boot/guest.elf\n\tboot\n}\n")
    iso = iso_root + ".iso"
    subprocess.run(["grub-mkrescue", "-o", iso, iso_root], check=True, capture_output=True)
    start = time.monotonic()
    p = subprocess.run(QEMU + qemu.boot_args(iso), capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace"), time.monotonic() - start


def check(name, status, out, want_status, want_lines, unwanted=()):
    lines = [line.rstrip("\r") for line in out.splitlines()]
    problems = []
    if status != want_status:
        problems.append(f"QEMU exit status {status}, expected {want_status}")
    for w in want_lines:
        if not any(w in line for line in lines):
            problems.append(f"no line containing {w!r}")
    for u in unwanted:
        if any(u == line for line in lines):
            problems.append(f"unexpected line {u!r}")
    verdict = "ok  " if not problems else "FAIL"
    print(f"{verdict} {name}")
    for p in problems:
        print(f"     {p}")
    if problems:
        print("     --- serial output ---")
        for line in lines:
            print(f"     | {line}")
    return not problems


def keos_cases(image):
    """(name, image bytes, expected status, expected lines, unwanted lines)."""
    secs = sections(image)
    hello = "Hello guest os!"
    cases = [("keos: as built", bytes(image), 1,
              [hello, "keos-guest: text=", "keos-guest: RAM "], [])]

    # A wrong byte in .data's last, partial page.
    addr, off, size = secs[".data"]
    bad = bytearray(image)
    flip_byte(bad, off + size - 3)
    last_page = (addr + size - 3 - 0xFFFFFFFF80000000) & ~0xFFF
    cases.append(("keos: .data byte flipped", bytes(bad), 6 * 2 + 1,
                  [f".data differs from the ELF file in [{last_page:#x}, "], [hello]))

    # A wrong byte in .rodata: a letter of a message the guest prints only on success.
    addr, off, size = secs[".rodata"]
    bad = bytearray(image)
    flip_byte(bad, image.index(b"all checks passed", off, off + size))
    cases.append(("keos: .rodata byte flipped", bytes(bad), 5 * 2 + 1,
                  [".rodata differs from the ELF file"], [hello]))

    # The table never patched.
    addr, off, size = secs[".checksums"]
    bad = bytearray(image)
    bad[off:off + 8] = bytes(8)
    cases.append(("keos: no checksum table", bytes(bad), 3 * 2 + 1,
                  ["no checksum table"], [hello]))

    # A loader that copies file bytes past p_filesz: the data segment's
    # file size grown by a page, so .untouched's first bytes land in .bss.
    bad = bytearray(image)
    phoff, = struct.unpack_from("<Q", image, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", image, 0x36)
    for i in range(phnum):
        ph = phoff + i * phentsize
        p_type, p_flags = struct.unpack_from("<II", image, ph)
        if p_type == 1 and p_flags == 6:  # PT_LOAD, RW
            filesz, = struct.unpack_from("<Q", image, ph + 0x20)
            struct.pack_into("<Q", bad, ph + 0x20, filesz + 0x1000)
    cases.append(("keos: file bytes past p_filesz", bytes(bad), 7 * 2 + 1,
                  [".bss is not zero", "(bytes of the next segment)"], [hello]))
    return cases


def stress_cases(image):
    secs = sections(image)
    cases = [("stress: as built", bytes(image), 1, ["stress: vcpu 0 exit 0x0 "], [])]
    addr, off, size = secs[".data"]
    bad = bytearray(image)
    flip_byte(bad, off + 300 * 4096 + 1234)
    cases.append(("stress: data page 300 damaged", bytes(bad), 3,
                  [f"stress: vcpu 0 exit {0x100 + 300:#x} "], []))
    return cases


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if not shutil.which("grub-mkrescue"):
        sys.exit("bare_test.py: the guests boot here through GRUB (multiboot2): "
                 "grub-mkrescue is missing (apt-get install grub-common grub-pc-bin xorriso)")
    with open(os.path.join(build, "guests", "keos-bare.elf"), "rb") as f:
        keos = bytearray(f.read())
    with open(os.path.join(build, "guests", "stress-bare.elf"), "rb") as f:
        stress = bytearray(f.read())
    workdir = tempfile.mkdtemp(prefix="guests-bare-")
    ok = True
    try:
        for i, (name, elf, status, want, unwanted) in enumerate(keos_cases(keos) +
                                                                stress_cases(stress)):
            got_status, out, secs = run(elf, workdir, f"case{i}")
            ok &= check(f"{name} ({secs:.2f} s)", got_status, out, status, want, unwanted)
    finally:
        shutil.rmtree(workdir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

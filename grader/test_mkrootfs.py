"""Host-side tests of tools/mkrootfs, the disk-image packer.

The image reader below is written from keos/FS.md, not from mkrootfs.c, so the
two are checked against the documented format rather than against each other.
Run: /usr/bin/python3 -m pytest grader/test_mkrootfs.py
"""

import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from harness.paths import ROOT
from harness.plugin import make_locked

TOOL = ROOT / "build" / "tools" / "mkrootfs"

BLOCK = 4096
SECTOR = 512
MAGIC = 0x5346454B
MAX_FILES = 256
NAME_LEN = 56


# ---------------------------------------------------------------- the tool


@pytest.fixture(scope="session")
def mkrootfs():
    """Path of a freshly built mkrootfs (the Makefile's host rule, HOSTCC)."""
    made = make_locked("-s", str(TOOL.relative_to(ROOT)))
    assert made.returncode == 0, f"cannot build mkrootfs:\n{made.stdout}{made.stderr}"
    return TOOL


def run(tool, *args):
    return subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True)


def pack_ok(tool, out, *inputs):
    r = run(tool, out, *inputs)
    assert r.returncode == 0, f"mkrootfs failed ({r.returncode}): {r.stderr}"
    return read_image(out)


def pack_fails(tool, out, *inputs, message):
    """Run a pack that must be refused; check the message and that nothing was left behind."""
    before = out.read_bytes() if out.exists() else None
    r = run(tool, out, *inputs)
    assert r.returncode != 0, "mkrootfs accepted input it should refuse"
    assert message in r.stderr, f"expected {message!r} in the error, got {r.stderr!r}"
    after = out.read_bytes() if out.exists() else None
    assert after == before, "a refused pack changed the output file"
    assert not Path(str(out) + ".tmp").exists(), "a refused pack left OUT.tmp behind"
    return r.stderr


# ---------------------------------------------------------------- reader (from keos/FS.md)


def ceil_div(a, b):
    return (a + b - 1) // b


def read_image(path):
    """Parse an image and check every rule FS.md states; return (superblock, files)."""
    img = Path(path).read_bytes()
    assert len(img) >= BLOCK and len(img) % BLOCK == 0, f"image size {len(img)}"
    magic, version, bsize, nfiles, dir_start, dir_blocks, total = struct.unpack_from(
        "<7I", img, 0)
    assert magic == MAGIC, f"magic {magic:#x}"
    assert (version, bsize, dir_start) == (1, BLOCK, 1)
    assert nfiles <= MAX_FILES
    assert dir_blocks == ceil_div(nfiles * 64, BLOCK)
    assert total * BLOCK == len(img), "total_blocks disagrees with the image size"
    assert img[28:BLOCK] == bytes(BLOCK - 28), "superblock padding is not zero"

    files = []
    used = set()
    for i in range(nfiles):
        raw = img[BLOCK + 64 * i: BLOCK + 64 * (i + 1)]
        name_field = raw[:NAME_LEN]
        assert b"\0" in name_field, f"entry {i}: name not NUL-terminated"
        name = name_field[:name_field.index(b"\0")]
        assert name, f"entry {i}: empty name"
        assert name_field[len(name):] == bytes(NAME_LEN - len(name)), "name not zero-padded"
        assert b"/" not in name
        start, size = struct.unpack_from("<II", raw, NAME_LEN)
        nblocks = ceil_div(size, BLOCK)
        assert start >= 1 + dir_blocks, f"{name}: data overlaps the directory"
        assert start + nblocks <= total, f"{name}: data past the end of the image"
        blocks = set(range(start, start + nblocks))
        assert not blocks & used, f"{name}: data overlaps another file"
        used |= blocks
        data = img[start * BLOCK: start * BLOCK + size]
        tail = img[start * BLOCK + size: (start + nblocks) * BLOCK]
        assert tail == bytes(len(tail)), f"{name}: padding after the data is not zero"
        files.append({"name": name.decode(), "start": start, "size": size, "data": data})
    names = [f["name"] for f in files]
    assert len(set(names)) == len(names), f"duplicate names in {names}"
    dir_end = BLOCK * (1 + dir_blocks)
    assert img[BLOCK + 64 * nfiles: dir_end] == bytes(dir_end - BLOCK - 64 * nfiles)
    sb = {"nfiles": nfiles, "dir_blocks": dir_blocks, "total_blocks": total}
    return sb, files


def payload(size, seed):
    """Distinct, non-repeating bytes so a misplaced block cannot go unnoticed."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += zlib.crc32(f"{seed}:{counter}".encode()).to_bytes(4, "little")
        counter += 1
    return bytes(out[:size])


# ---------------------------------------------------------------- packing

EDGE_SIZES = [0, 1, SECTOR - 1, SECTOR, SECTOR + 1, 3 * SECTOR, 3 * SECTOR + 1,
              BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 1, 300 * 1024 + 7]


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_single_file_layout(mkrootfs, tmp_path, size):
    src = tmp_path / "f.bin"
    src.write_bytes(payload(size, size))
    sb, files = pack_ok(mkrootfs, tmp_path / "disk.img", src)
    assert sb["nfiles"] == 1 and sb["dir_blocks"] == 1
    [f] = files
    assert (f["name"], f["size"], f["start"]) == ("f.bin", size, 2)
    assert f["data"] == src.read_bytes()
    assert sb["total_blocks"] == 2 + ceil_div(size, BLOCK)


def test_many_files_round_trip_in_order(mkrootfs, tmp_path):
    srcs = []
    for i, size in enumerate(EDGE_SIZES):
        p = tmp_path / f"file{i:02d}-{size}"
        p.write_bytes(payload(size, 1000 + i))
        srcs.append(p)
    srcs.reverse()  # command-line order, not name order, decides the layout
    sb, files = pack_ok(mkrootfs, tmp_path / "disk.img", *srcs)
    assert [f["name"] for f in files] == [p.name for p in srcs]
    for f, p in zip(files, srcs):
        assert f["data"] == p.read_bytes(), f"{p.name}: contents differ"
    starts = [f["start"] for f in files]
    assert starts == sorted(starts), "files are not laid out in argument order"
    assert sb["total_blocks"] == 2 + sum(ceil_div(s, BLOCK) for s in EDGE_SIZES)


def test_base_name_is_stored(mkrootfs, tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "kernel.elf").write_bytes(b"\x7fELF" + bytes(100))
    _, files = pack_ok(mkrootfs, tmp_path / "disk.img", deep / "kernel.elf")
    assert [f["name"] for f in files] == ["kernel.elf"]


def test_directory_argument(mkrootfs, tmp_path):
    d = tmp_path / "root"
    d.mkdir()
    for name in ["zeta", "Alpha", "beta.txt", "a-1"]:
        (d / name).write_bytes(payload(100 + len(name), name))
    (d / ".hidden").write_text("skipped")
    (d / "subdir").mkdir()
    (d / "subdir" / "inner").write_text("skipped too")
    extra = tmp_path / "extra.bin"
    extra.write_bytes(b"x" * 5000)
    _, files = pack_ok(mkrootfs, tmp_path / "disk.img", d, extra)
    assert [f["name"] for f in files] == ["Alpha", "a-1", "beta.txt", "zeta", "extra.bin"]
    for f in files[:4]:
        assert f["data"] == (d / f["name"]).read_bytes()


def test_no_files_gives_an_empty_image(mkrootfs, tmp_path):
    sb, files = pack_ok(mkrootfs, tmp_path / "disk.img")
    assert files == [] and sb == {"nfiles": 0, "dir_blocks": 0, "total_blocks": 1}


def test_output_is_reproducible(mkrootfs, tmp_path):
    d = tmp_path / "root"
    d.mkdir()
    for i in range(5):
        (d / f"f{i}").write_bytes(payload(777 * i, i))
    pack_ok(mkrootfs, tmp_path / "one.img", d)
    pack_ok(mkrootfs, tmp_path / "two.img", d)
    assert (tmp_path / "one.img").read_bytes() == (tmp_path / "two.img").read_bytes()


def test_overwrites_existing_image(mkrootfs, tmp_path):
    out = tmp_path / "disk.img"
    out.write_bytes(b"old junk" * 10000)
    src = tmp_path / "new.txt"
    src.write_text("new")
    _, files = pack_ok(mkrootfs, out, src)
    assert [(f["name"], f["data"]) for f in files] == [("new.txt", b"new")]


def test_the_repository_rootfs_packs(mkrootfs, tmp_path):
    rootfs = ROOT / "rootfs"
    _, files = pack_ok(mkrootfs, tmp_path / "disk.img", rootfs)
    expected = sorted(p.name for p in rootfs.iterdir()
                      if p.is_file() and not p.name.startswith("."))
    assert [f["name"] for f in files] == expected
    for f in files:
        assert zlib.crc32(f["data"]) == zlib.crc32((rootfs / f["name"]).read_bytes())


# ---------------------------------------------------------------- names and limits


def test_longest_name_fits(mkrootfs, tmp_path):
    src = tmp_path / ("n" * (NAME_LEN - 1))
    src.write_text("fits")
    _, files = pack_ok(mkrootfs, tmp_path / "disk.img", src)
    assert files[0]["name"] == src.name and files[0]["data"] == b"fits"


def test_name_too_long_is_refused(mkrootfs, tmp_path):
    src = tmp_path / ("n" * NAME_LEN)
    src.write_text("too long")
    pack_fails(mkrootfs, tmp_path / "disk.img", src, message="at most 55 fit")


def test_duplicate_names_are_refused(mkrootfs, tmp_path):
    for sub in ["a", "b"]:
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.txt").write_text(sub)
    pack_fails(mkrootfs, tmp_path / "disk.img", tmp_path / "a" / "same.txt",
               tmp_path / "b" / "same.txt", message="duplicate name 'same.txt'")


def test_the_same_file_twice_is_a_duplicate(mkrootfs, tmp_path):
    src = tmp_path / "x"
    src.write_text("x")
    pack_fails(mkrootfs, tmp_path / "disk.img", src, src, message="duplicate name 'x'")


@pytest.fixture
def many_files(tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(MAX_FILES + 1):
        (d / f"f{i:03d}").write_bytes(i.to_bytes(2, "little"))
    return d


def test_max_files_fit(mkrootfs, tmp_path, many_files):
    (many_files / f"f{MAX_FILES:03d}").unlink()
    sb, files = pack_ok(mkrootfs, tmp_path / "disk.img", many_files)
    assert sb["nfiles"] == MAX_FILES and sb["dir_blocks"] == MAX_FILES * 64 // BLOCK
    assert all(f["data"] == int(f["name"][1:]).to_bytes(2, "little") for f in files)


def test_too_many_files_are_refused(mkrootfs, tmp_path, many_files):
    pack_fails(mkrootfs, tmp_path / "disk.img", many_files, message="too many files")


def test_failure_keeps_the_previous_image(mkrootfs, tmp_path):
    out = tmp_path / "disk.img"
    good = tmp_path / "good.txt"
    good.write_text("good")
    pack_ok(mkrootfs, out, good)
    pack_fails(mkrootfs, out, good, tmp_path / "missing.txt",
               message="missing.txt: No such file or directory")
    _, files = read_image(out)
    assert [f["name"] for f in files] == ["good.txt"]


def test_missing_input_is_refused(mkrootfs, tmp_path):
    pack_fails(mkrootfs, tmp_path / "disk.img", tmp_path / "nope",
               message="No such file or directory")


@pytest.mark.parametrize("args", [[], ["--gen", "x"], ["--gen", "out", "12", "seed"]])
def test_bad_usage_exits_nonzero(mkrootfs, tmp_path, args):
    r = subprocess.run([str(mkrootfs), *args], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode != 0 and r.stderr, f"exit {r.returncode}, stderr {r.stderr!r}"
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- --gen


def splitmix64_bytes(size, seed):
    """The generator as rootfs/README.md documents it."""
    mask = (1 << 64) - 1
    state, out = seed, bytearray()
    while len(out) < size:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out += (z ^ (z >> 31)).to_bytes(8, "little")
    return bytes(out[:size])


@pytest.mark.parametrize("size,seed", [(0, 1), (5, 1), (8, 7), (4097, 2), (307323, 1)])
def test_gen_matches_documented_generator(mkrootfs, tmp_path, size, seed):
    out = tmp_path / "big.bin"
    r = run(mkrootfs, "--gen", out, size, seed)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == splitmix64_bytes(size, seed)
    assert not Path(str(out) + ".tmp").exists()


def test_gen_first_word_is_splitmix64_reference(mkrootfs, tmp_path):
    # Published first output of splitmix64 with seed 0 (Vigna's reference implementation).
    out = tmp_path / "w"
    assert run(mkrootfs, "--gen", out, 8, 0).returncode == 0
    assert int.from_bytes(out.read_bytes(), "little") == 0xE220A8397B1DCDAF


def test_gen_seeds_differ(mkrootfs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(mkrootfs, "--gen", a, 4096, 1).returncode == 0
    assert run(mkrootfs, "--gen", b, 4096, 2).returncode == 0
    assert a.read_bytes() != b.read_bytes()

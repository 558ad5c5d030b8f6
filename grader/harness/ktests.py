"""Which kernel tests exist: read from a built kernel, or from the sources.

KTEST(group, name) (keos/test.h) puts a `struct ktest { const char *name; void (*fn)(void); }`
in the `.ktests` input section, which the linker script gathers between the symbols
`ktests_start` and `ktests_end` inside `.rodata`. `from_elf()` reads those pairs straight
from the ELF file (no pyelftools: the ELF64 layout is simple enough for `struct`) and
follows each name pointer to its C string. `from_sources()` finds the KTEST() lines in
the C files instead; the two must agree on a fresh build (test_ktests.py checks it).
"""

import re
import struct
from pathlib import Path

SOURCE_DIRS = ("keos", "kev", "project3")
_KTEST = re.compile(r"^KTEST\((\w+),\s*(\w+)\)", re.M)


class ElfError(Exception):
    pass


def _sections(data):
    """[(name, type, addr, offset, size, link, entsize)] of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ElfError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
           for i in range(shnum)]
    names_off = raw[shstrndx][4]

    def cstr(off):
        return data[off:data.index(b"\0", off)].decode()
    return [(cstr(names_off + s[0]), s[1], s[3], s[4], s[5], s[6], s[9]) for s in raw]


def _symbols(data, sections):
    """{name: value} from .symtab."""
    SHT_SYMTAB = 2
    out = {}
    for _, type_, _, offset, size, link, entsize in sections:
        if type_ != SHT_SYMTAB:
            continue
        strtab = sections[link][3]
        for off in range(offset, offset + size, entsize):
            name_off, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", strtab + name_off)
            out[data[strtab + name_off:end].decode()] = value
    return out


def _file_offset(sections, addr):
    """Where the byte at virtual address addr is in the file (loaded sections only)."""
    SHT_NOBITS = 8
    for _, type_, base, offset, size, _, _ in sections:
        if base and type_ != SHT_NOBITS and base <= addr < base + size:
            return offset + addr - base
    raise ElfError(f"address {addr:#x} is in no section with contents")


def from_elf(path):
    """Test names in the order the kernel runs them (the order of the .ktests array)."""
    data = Path(path).read_bytes()
    sections = _sections(data)
    syms = _symbols(data, sections)
    if "ktests_start" not in syms or "ktests_end" not in syms:
        raise ElfError(f"{path}: no ktests_start/ktests_end symbols")
    start, end = syms["ktests_start"], syms["ktests_end"]
    names = []
    table = _file_offset(sections, start) if end > start else 0
    for i in range((end - start) // 16):
        name_ptr, _ = struct.unpack_from("<QQ", data, table + 16 * i)
        off = _file_offset(sections, name_ptr)
        names.append(data[off:data.index(b"\0", off)].decode())
    return names


def in_file(path):
    """The "group.name" of every KTEST() in one C file, in the order it defines them."""
    return [f"{g}.{n}" for g, n in _KTEST.findall(Path(path).read_text())]


def from_sources(root, dirs=SOURCE_DIRS):
    """Every "group.name" defined with KTEST() in the C files under root/dirs (sorted)."""
    names = set()
    for d in dirs:
        for path in sorted((Path(root) / d).rglob("*.c")):
            names.update(in_file(path))
    return sorted(names)


def in_group(names, group):
    return [n for n in names if n.startswith(group + ".")]


def selected(names, selection):
    """The names a kernel selection runs, as keos/test.c matches them: comma-separated
    names, a trailing '*' matching a prefix."""
    patterns = [p for p in selection.split(",") if p]
    return [n for n in names if any(n.startswith(p[:-1]) if p.endswith("*") else n == p
                                    for p in patterns)]

"""The policy for student files (project3/npt.c, mmio.c, pager.c), checked before tests run.

The student's C code runs inside the kernel that reports the verdict, with all its
privileges. The verdict channel (harness/verdict.py) keeps it from writing a verdict;
this policy keeps it to the API Project 3 hands out, so that it cannot reach the test
runner, fw_cfg, the exit port or the console driver at all:

    violations = check_sources(paths)     # before building: no inline assembly, no port
                                          # or MSR helpers, includes from an allowlist
    violations += check_objects(objs)     # after compiling: every undefined symbol is on
                                          # the allowlist; no privileged instructions

Each Violation names the file, the line, the symbol and why. The allowlists are in
grader/rubric.toml ([policy]); handouts/project3.md lists them for students. What the
policy cannot stop (code that scans memory or jumps to hard-coded addresses) is in
handouts/ta-guide-integrity.md.

    python3 -m harness.policy FILE.c ... [--objects FILE.o ...]   (from grader/)
"""

import argparse
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT
from .rubric import RUBRIC

STUDENT_FILES = ("npt.c", "mmio.c", "pager.c")     # under project3/

INLINE_ASM = {"asm", "__asm", "__asm__"}
# keos/x86.h's port and MSR helpers (the header is not on the list either).
PORT_MSR = {"inb", "inw", "inl", "outb", "outw", "outl", "insb", "insw", "insl", "outsb",
            "outsw", "outsl", "rdmsr", "wrmsr"}
# Instructions no C code of the project needs; only assembly or a byte trick makes them.
PRIVILEGED = re.compile(r"(in|out)[bwl]?|ins[bwld]?|outs[bwld]?|rdmsr|wrmsr|cli|sti|hlt|"
                        r"lgdt|lidt|ltr|lldt|invlpg|wbinvd|vmrun|vmmcall|vmload|vmsave|"
                        r"int3?|syscall|sysret[lq]?|iret[lq]?|swapgs|clgi|stgi")
_INCLUDE = re.compile(r'\s*#\s*include\s*(?:"([^"]*)"|<([^>]*)>|(.*))')
# Sections a C file of ours compiles into; anything else (the kernel's .ktests table of
# tests, say) is not the student's to add to.
SECTIONS = re.compile(r"\.(text|data|rodata|bss|comment|note|debug|rela|eh_frame|group)"
                      r"([._].*)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Violation:
    file: str
    line: int       # 0 when not known
    symbol: str
    why: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.symbol}: {self.why}"


@dataclass(frozen=True)
class Allowlists:
    includes: frozenset
    symbols: frozenset


def load(path=RUBRIC):
    with open(path, "rb") as f:
        policy = tomllib.load(f).get("policy", {})
    return Allowlists(frozenset(policy.get("includes", ())), frozenset(policy.get("symbols", ())))


def student_files(root):
    """The files the policy covers in a tree (project3/ or solution/project3/)."""
    return [Path(root) / name for name in STUDENT_FILES]


def code_only(text):
    """`text` with comments, string and character literals blanked out; newlines kept,
    so line numbers stay right."""
    out, i, n = [], 0, len(text)
    while i < n:
        c, two = text[i], text[i:i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif two == "/*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
        else:
            out.append(c)
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)


def check_sources(paths, allow=None):
    """Violations in C sources, before building."""
    allow = allow or load()
    found = []
    for path in map(Path, paths):
        try:
            text = path.read_text(errors="replace")
        except OSError as e:
            found.append(Violation(str(path), 0, path.name, f"cannot read it: {e.strerror}"))
            continue
        raw_lines = text.splitlines()
        for number, line in enumerate(code_only(text).splitlines(), 1):
            found += _check_line(path, number, line, raw_lines[number - 1], allow)
    return found


def _check_line(path, number, code, raw, allow):
    if re.match(r"\s*#\s*include\b", code):
        m = _INCLUDE.match(raw)
        name = m.group(1) or m.group(2)
        if name is None:
            return [Violation(str(path), number, m.group(3).strip(),
                              "an #include must name its header in quotes")]
        if name not in allow.includes:
            return [Violation(str(path), number, name,
                              "this header is not on the include allowlist")]
        return []
    out = []
    for m in _IDENT.finditer(code):
        word = m.group(0)
        if word in INLINE_ASM:
            out.append(Violation(str(path), number, word, "inline assembly is not allowed"))
        elif word in PORT_MSR:
            out.append(Violation(str(path), number, word,
                                 "port and MSR access is not allowed"))
    return out


def tool(name):
    """NM or OBJDUMP from the environment (`make grade` passes the Makefile's: llvm-nm
    under TOOLCHAIN=llvm), else GNU's."""
    return os.environ.get(name.upper()) or name


def check_objects(objects, sources=(), allow=None):
    """Violations in compiled student objects: undefined symbols off the allowlist, and
    privileged instructions. `sources` are searched for the line that names a symbol."""
    allow = allow or load()
    found = []
    for obj in map(Path, objects):
        source = _source_for(obj, sources)
        nm = _run([tool("nm"), "-u", str(obj)])
        if isinstance(nm, Violation):
            found.append(nm)
            continue
        for symbol in sorted({line.split()[-1] for line in nm.splitlines() if line.strip()}):
            if symbol not in allow.symbols:
                found.append(Violation(source, _line_of(source, symbol), symbol,
                                       "not on the list of functions you may call"))
        headers = _run([tool("objdump"), "-h", str(obj)])
        for name in [] if isinstance(headers, Violation) else _sections(headers):
            if not SECTIONS.fullmatch(name):
                found.append(Violation(source, _line_of(source, name, code=False), name,
                                       "code and data go in the usual sections only"))
        dis = _run([tool("objdump"), "-d", "--no-show-raw-insn", str(obj)])
        if isinstance(dis, Violation):
            found.append(dis)
            continue
        for fn, insn in _instructions(dis):
            if PRIVILEGED.fullmatch(insn[0]) or re.search(r"%[cd]r\d", " ".join(insn[1:])):
                found.append(Violation(source, _line_of(source, fn), fn,
                                       f"privileged instruction `{' '.join(insn)}`"))
    return found


def _run(cmd):
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except OSError as e:
        return Violation(cmd[-1], 0, cmd[0], f"cannot run {cmd[0]}: {e.strerror}")
    if done.returncode != 0:
        return Violation(cmd[-1], 0, cmd[0], f"{cmd[0]} failed: {done.stderr.strip()}")
    return done.stdout


def _sections(headers):
    """Section names from objdump -h ("  0 .text  000000a5  ...")."""
    return [m.group(1) for m in re.finditer(r"^\s*\d+\s+(\S+)\s+[0-9a-f]+\s", headers, re.M)]


def _instructions(disassembly):
    """(function, [mnemonic, operands...]) for each instruction of objdump -d."""
    fn = "?"
    for line in disassembly.splitlines():
        if m := re.match(r"[0-9a-f]+ <(.+)>:", line):
            fn = m.group(1)
        elif m := re.match(r"\s*[0-9a-f]+:\s+(.*)", line):
            words = m.group(1).split("#")[0].split()
            while words and words[0] in ("lock", "rep", "repz", "repnz", "repe", "repne",
                                         "notrack", "bnd", "data16", "cs", "ds"):
                words = words[1:]
            if words:
                yield fn, words


def _source_for(obj, sources):
    """The source of build/.../npt.c.o among `sources`, else the object itself."""
    stem = obj.name[:-2] if obj.name.endswith(".o") else obj.name
    return next((str(s) for s in sources if Path(s).name == stem), str(obj))


def _line_of(source, symbol, code=True):
    """The first line of `source` naming `symbol` (in code, or anywhere), or 0."""
    if not source.endswith((".c", ".h")):
        return 0
    try:
        text = Path(source).read_text(errors="replace")
    except OSError:
        return 0
    lines = (code_only(text) if code else text).splitlines()
    pattern = re.compile(rf"(?<![\w.]){re.escape(symbol)}\b")
    return next((i for i, line in enumerate(lines, 1) if pattern.search(line)), 0)


def compile_objects(sources, out_dir):
    """Compile student files with the kernel's own flags (the Makefile's P3_CFLAGS) into
    out_dir; returns the objects, named <file>.o as the Makefile names them."""
    # The last two lines: the Makefile may first say which toolchain it picked.
    cc, flags = subprocess.run(["make", "-s", "--no-print-directory", "print-CC",
                                "print-P3_CFLAGS"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.splitlines()[-2:]
    flags = [f for f in flags.split() if f not in ("-MMD", "-MP")]
    objects = []
    for src in map(Path, sources):
        obj = Path(out_dir) / f"{src.name}.o"
        subprocess.run([*cc.split(), *flags, "-c", str(src.resolve()), "-o", str(obj)], cwd=ROOT,
                       check=True, capture_output=True, text=True)
        objects.append(obj)
    return objects


def main(argv=None):
    ap = argparse.ArgumentParser(prog="policy", description=__doc__.split("\n")[0])
    ap.add_argument("sources", nargs="*", help="student C files")
    ap.add_argument("--objects", nargs="*", default=[], help="their compiled objects")
    args = ap.parse_args(argv)
    found = check_sources(args.sources) + check_objects(args.objects, args.sources)
    for v in found:
        print(f"POLICY {v}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

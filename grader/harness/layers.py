"""The C source tree's layers, checked by include path (grader/test_layers.py).

Each layer sees its own headers and those of the layers below it, and nothing else:
keos (the kernel) sees keos/; kev (the hypervisor) keos/, kev/ and abi/; Project 3 (the
student's files, its provided glue and tests) all of those and project3/; a guest its own
directory, keos/ and abi/. The Makefile says it with -I flags (KEOS_INC, KEV_INC, P3_INC,
GUEST_INC, STRESS_INC); this module reads them and checks every #include of every file
against its layer's, headers included (the compiler only sees the headers a .c uses).

    python3 -m harness.layers            # the violations, one per line; status 1 if any
"""
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import qemu

ROOT = qemu.ROOT
# Source directory -> the Makefile variable with its layer's -I flags. The first match wins.
LAYER_OF_DIR = [
    ("keos", "KEOS_INC"),
    ("kev", "KEV_INC"),
    ("project3", "P3_INC"),
    ("solution/project3", "P3_INC"),
    ("guests/keos", "GUEST_INC"),
    ("guests/stress", "STRESS_INC"),
    ("abi", None),                       # abi/ headers stand alone
]
SOURCE_SUFFIXES = (".c", ".h", ".S")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


@dataclass(frozen=True)
class Violation:
    file: str        # relative to the tree's root
    line: int
    header: str
    why: str

    def __str__(self):
        return f"{self.file}:{self.line}: #include \"{self.header}\": {self.why}"


def makefile_layers(root=ROOT):
    """{variable: [include dirs]} for every layer variable, as the Makefile expands them."""
    names = sorted({v for _, v in LAYER_OF_DIR if v})
    out = subprocess.run(["make", "-s", "--no-print-directory", *(f"print-{n}" for n in names)],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    # The last lines: the Makefile may first say which toolchain it picked.
    values = out.splitlines()[-len(names):]
    return {n: [f[2:] for f in v.split() if f.startswith("-I")] for n, v in zip(names, values)}


def layer_of(rel):
    """The LAYER_OF_DIR entry (top, variable) a relative Path belongs to, or None."""
    return next(((top, var) for top, var in LAYER_OF_DIR
                 if rel.parts[:len(Path(top).parts)] == Path(top).parts), None)


def check_file(path, rel, dirs, root):
    """The violations of one file whose layer sees dirs."""
    text = path.read_text(errors="replace")
    found = []
    for m in INCLUDE.finditer(text):
        if m.group(1) == "<":
            continue        # the compiler's own freestanding headers (stdint.h, ...)
        header, line = m.group(2), text.count("\n", 0, m.start()) + 1
        candidates = [path.parent / header] + [root / d / header for d in dirs]
        hit = next((c for c in candidates if c.is_file()), None)
        allowed = {(root / d).resolve() for d in dirs} | {path.parent.resolve()}
        if hit is None:
            others = sorted(str(p.parent.relative_to(root)) for p in root.glob(f"**/{header}")
                            if "build" not in p.relative_to(root).parts)
            where = f" (it is in {', '.join(others)})" if others else ""
            found.append(Violation(str(rel), line, header,
                                   f"not in this layer's {' '.join(dirs)}{where}"))
        elif hit.resolve().parent not in allowed:
            found.append(Violation(str(rel), line, header,
                                   f"reaches {hit.resolve().parent} outside {' '.join(dirs)}"))
    return found


def violations(root=ROOT, layers=None):
    """Every #include in the tree at root that its file's layer may not see."""
    root = Path(root)
    layers = layers if layers is not None else makefile_layers(root)
    found = []
    for top, var in LAYER_OF_DIR:
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            # Each file once, under the first layer that contains it.
            if path.suffix in SOURCE_SUFFIXES and path.is_file() and layer_of(rel)[0] == top:
                found += check_file(path, rel, layers[var] if var else [top], root)
    return found


def main():
    found = violations()
    for v in found:
        print(v)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

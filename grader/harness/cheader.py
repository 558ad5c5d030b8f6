"""Numbers that C, assembly and Python share, read from the one C header that defines
them: `#define NAME value` lines with an integer value (decimal or hex).

    cheader.define("keos/exit_status.h", "QEMU_EXIT_PASS")     # -> 16
"""
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+\(?(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\)?"
                    r"[ \t]*(?:/\*.*)?$", re.M)


@lru_cache(maxsize=None)
def defines(header):
    """{NAME: value} of the integer #defines of header (a path relative to the repository)."""
    text = (ROOT / header).read_text()
    return {name: int(value, 0) for name, value in DEFINE.findall(text)}


def define(header, name):
    """The integer NAME is #defined to in header; a KeyError naming both if it is not."""
    found = defines(header)
    if name not in found:
        raise KeyError(f"{header} has no '#define {name} <integer>'")
    return found[name]

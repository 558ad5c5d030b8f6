"""Where a hang hangs: the kernel watchdog's report, made readable with line numbers.

The kernel prints addresses and function names (its symbol table has no line
information); this module asks addr2line about the kernel ELF the run booted for
file:line, so that a report reads

    TIMEOUT  stuck in walk (project3/npt.c:44) <- npt_walk:64 <- npt_unmap:92
    TIMEOUT  deadlock: cpu1 waits for npt_lock held by cpu3 since pager_handle_fault
             (project3/pager.c:40); cpu3 waits for ...

addr2line is the binutils one, or $ADDR2LINE, or llvm-addr2line with TOOLCHAIN=llvm
(the same variable the Makefile takes). Without it (or without the ELF) the kernel's
own "function+0xoff" is shown instead: a report never fails for want of line numbers.
"""

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The top directories of the repository: a source path is shown from the last of them.
TOP_DIRS = ("keos", "kev", "project3", "guests", "tools")
STUDENT_DIR = "project3/"
NOT_STUDENT = ("project3/tests/", "project3/provided/")    # the course's, not the student's
STUCK_DEPTH = 6     # student functions named in a "stuck in" detail, innermost first

_WAIT = re.compile(r"cpu(\d+) waits for (\S+) held by cpu(-?\d+) since (0x[0-9a-f]+ <[^>]*>)")
_ADDR_SYM = re.compile(r"0x([0-9a-fA-F]+) <([^>]*)>")


@dataclass(frozen=True)
class Place:
    function: str
    file: str = None    # repository-relative, "project3/npt.c"; None if unknown
    line: int = None

    def __str__(self):
        return f"{self.function} ({self.file}:{self.line})" if self.file else self.function

    @property
    def is_student(self):
        return bool(self.file) and self.file.startswith(STUDENT_DIR) and \
            not self.file.startswith(NOT_STUDENT)


def addr2line_command():
    if os.environ.get("ADDR2LINE"):
        return os.environ["ADDR2LINE"]
    return "llvm-addr2line" if os.environ.get("TOOLCHAIN") == "llvm" else "addr2line"


def kernel_elf(result):
    """The ELF the run booted: the -kernel file, or kernel.elf beside the -cdrom ISO."""
    cmd = list(result.cmd or ())
    for opt, to_elf in (("-kernel", lambda p: p), ("-cdrom", lambda p: p.with_name("kernel.elf"))):
        if opt in cmd[:-1]:
            elf = to_elf(Path(cmd[cmd.index(opt) + 1]))
            return elf if elf.is_file() else None
    return None


def repo_path(path):
    """'/x/build/mutants/m/solution/project3/pager.c' -> 'project3/pager.c'."""
    parts = Path(path).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in TOP_DIRS:
            return "/".join(parts[i:])
    return path


@functools.lru_cache(maxsize=32)
def _locate(elf, mtime, addrs):
    try:
        out = subprocess.run([addr2line_command(), "-a", "-f", "-i", "-e", elf] +
                             [hex(a) for a in addrs], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    # Per address: "0x<addr>", then (function, file:line) pairs, innermost first.
    places, addr, function = {}, None, None
    for text in out.splitlines():
        if text.startswith("0x"):
            addr, function = int(text, 16), None
        elif function is None:
            function = text
        else:
            file, _, line = text.rpartition(":")
            line = line.split(" ")[0]           # "45 (discriminator 1)"
            if addr is not None and file not in ("", "??") and line.isdigit() and int(line):
                places.setdefault(addr, []).append(Place(function, repo_path(file), int(line)))
            function = None
    return places


def locate(elf, addrs):
    """{addr: [Place]} for the addresses addr2line can place in elf, innermost inlined
    function first (others are missing)."""
    addrs = tuple(sorted(set(addrs)))
    if elf is None or not addrs:
        return {}
    return _locate(str(elf), Path(elf).stat().st_mtime, addrs)


def _chain(frame, places):
    """The frame's places, innermost inlined function first (the kernel's name if none)."""
    return places.get(frame.addr) or [Place(f"{frame.function}+0x{frame.offset:x}")]


def symbolize(text, elf):
    """Replace each '0x<addr> <function+0xoff>' in text with 'function (file:line)'."""
    addrs = [int(m.group(1), 16) for m in _ADDR_SYM.finditer(text)]
    places = locate(elf, addrs)

    def one(m):
        found = places.get(int(m.group(1), 16))
        return str(found[0]) if found else m.group(2)
    return _ADDR_SYM.sub(one, text)


def _waits(wd):
    """{cpu: (lock, holder, since)} for the CPUs spinning on a lock."""
    out = {}
    for cpu in wd.cpus:
        if cpu.waits and (m := _WAIT.match(cpu.waits)):
            out[int(m.group(1))] = (m.group(2), int(m.group(3)), m.group(4))
    return out


def _deadlock_cycle(waits):
    """The CPUs of a wait-for cycle (each waits for a lock the next one holds), or []."""
    for start in waits:
        path, cpu = [], start
        while cpu in waits and cpu not in path:
            path.append(cpu)
            cpu = waits[cpu][1]
        if cpu in path:
            return path[path.index(cpu):]
    return []


def _stuck_chain(wd, places):
    """(places, cpu): the student functions on the stack of a busy CPU (lock holders
    before waiters), innermost first, at most STUCK_DEPTH of them; else the innermost
    frame of the code the first busy CPU ran (with what was inlined there). Which of
    them holds the loop, the report cannot know: a helper inlined into it may be where
    the CPU happened to be."""
    waits = _waits(wd)
    busy = [c for c in wd.cpus if c.thread and not c.thread.startswith("idle") and c.frames]
    busy.sort(key=lambda c: c.cpu in waits)
    for cpu in busy:
        students = [p for f in cpu.frames for p in _chain(f, places) if p.is_student]
        if students:
            return students[:STUCK_DEPTH], cpu
    if not busy:
        return [], None
    # A loop with interrupts on is often caught inside a timer tick or a preemption: name
    # the code it stopped. With interrupts off, no tick can be on the stack by chance.
    cpu = busy[0]
    frames = cpu.frames if "interrupts off" in wd.why else cpu.interrupted_code
    return _chain(frames[0], places)[:STUCK_DEPTH], cpu


def timeout_detail(result):
    """The grade table's detail for a watchdog TIMEOUT: the deadlock cycle, or the
    function the stuck CPU was in. None if the watchdog did not report."""
    wd = result.log.watchdog
    if wd is None:
        return None
    elf = kernel_elf(result)
    waits = _waits(wd)
    cycle = _deadlock_cycle(waits)
    if cycle:
        return "deadlock: " + "; ".join(
            symbolize(f"cpu{c} waits for {waits[c][0]} held by cpu{waits[c][1]} since "
                      f"{waits[c][2]}", elf) for c in cycle)
    places = locate(elf, [f.addr for c in wd.cpus for f in c.frames])
    chain, cpu = _stuck_chain(wd, places)
    if not chain:
        return f"{wd.why}; every CPU was idle"
    # Compact: the first place in full, then name:line where the file is the same.
    where = "stuck in " + " <- ".join(
        [str(chain[0])] + [f"{p.function}:{p.line}" if p.file == chain[0].file else str(p)
                           for p in chain[1:]])
    if cpu.guest and not chain[0].is_student:
        where += f", running a guest: {cpu.guest}"
    return where


def panic_detail(result):
    """A panic message with its addresses as function (file:line)."""
    return symbolize(result.panic, kernel_elf(result))


def watchdog_report(result):
    """Lines for Result.explain(): the LOCK-WAIT reports, then one line per CPU,
    'cpu2 (thread t): fn (file:line) <- fn (file:line) <- ...'."""
    elf = kernel_elf(result)
    out = [symbolize(f"lock wait: {w}", elf) for w in result.log.lock_waits]
    wd = result.log.watchdog
    if wd is None:
        return out
    after = f" after {wd.after_ms} ms" if wd.after_ms is not None else ""
    out.append(f"watchdog: {wd.test}: {wd.why}{after}: {timeout_detail(result)}")
    places = locate(elf, [f.addr for c in wd.cpus for f in c.frames])
    for cpu in wd.cpus:
        if cpu.thread is None:
            out.append(f"  cpu{cpu.cpu}: did not answer the NMI")
            continue
        chain = " <- ".join(str(p) for f in cpu.frames for p in _chain(f, places))
        out.append(f"  cpu{cpu.cpu} (thread {cpu.thread}): {chain or '(no backtrace)'}")
        if cpu.waits:
            out.append(f"    {symbolize(cpu.waits, elf)}")
        if cpu.guest:
            out.append(f"    in guest: {cpu.guest}")
    return out

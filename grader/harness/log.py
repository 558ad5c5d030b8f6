"""Parse a KeOS run's output and decide the verdict of one QEMU run.

Nothing here starts processes: `Result.from_output(text, status, channel, secret)` turns
canned text into the same result object a real run produces, so the parser is tested
without QEMU.

The test runner reports on the verdict channel (harness/verdict.py; keos/test.h), each
line authenticated with the run's secret:

    TEST-START <name>
    METRIC <name> <key>=<value>
    TEST-PASS <name> ms=<n>
    TEST-FAIL <name> <file>:<line>: <what failed>
    TEST-SKIP <name> <why this machine cannot grade it>
    TESTS-DONE passed=<n> failed=<n> skipped=<n>
    EXIT <code it writes to the exit port>

The console (COM1, `text`) is for people; only the lines that end a run abnormally are
read from it:

    PANIC <message>            then register lines and "  #<i> 0x<addr> <function>+0x<off>"
    NOT-IMPLEMENTED <func> (<file>:<line>)
    KEV-UNSUPPORTED: this CPU has no <what>.    then hint lines (how to run QEMU)
    LOCK-WAIT cpu<i> waits for <lock> held by cpu<j> since 0x<addr> <<function>+0x<off>>
    WATCHDOG <name>: <why>, <n> ms into the test; stopping every CPU   then per CPU "WATCHDOG-CPU <i> thread
        <thread>", maybe "  cpu<i> waits for ..." and "  in guest: ...", and its backtrace;
        then TEST-TIMEOUT <name> budget_ms=<n> stall_ms=<n>  (keos/watchdog.c)

QEMU ends through isa-debug-exit with one of the statuses below. What a guest prints
reaches the console as "guest| <line>" or "guest<N>| <line>" (N: the vCPU); such lines
are the guest's console (`Log.guest_lines`) and never count. A console line that looks
like a verdict line (`verdict.VERDICT_LIKE`) was not written by the runner (it writes
"[test] ..." there): it is a forgery, and the run's verdict is FORGED, worth nothing and
marked for review. So is a status 33 (PASS) that the channel does not confirm.
"""

import enum
import re
from dataclasses import dataclass, field

from . import verdict as channel_mod
from .cheader import define


def _status(name):
    """The exit status of keos/exit_status.h's QEMU_EXIT_<name>: isa-debug-exit turns a
    write of v into exit status (v << 1) | 1."""
    return (define("keos/exit_status.h", f"QEMU_EXIT_{name}") << 1) | 1


STATUS_PASS = _status("PASS")
STATUS_FAIL = _status("FAIL")
STATUS_PANIC = _status("PANIC")
STATUS_NOT_IMPL = _status("NOT_IMPL")
STATUS_UNSUPPORTED = _status("UNSUPPORTED")   # the CPU has no SVM / NPT (kev_require_svm)
STATUS_TIMEOUT = _status("TIMEOUT")   # a test ran past its budget: the watchdog stopped it
# With -no-reboot a triple fault (CPU reset) makes QEMU exit with status 0.
STATUS_RESET = 0


class Verdict(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    PANIC = "PANIC"
    NOT_IMPLEMENTED = "NOT-IMPLEMENTED"
    SKIP = "SKIP"                   # the test could not be graded on this machine
    UNSUPPORTED = "UNSUPPORTED"     # the (virtual) CPU cannot run guests at all
    TIMEOUT = "TIMEOUT"
    TRIPLE_FAULT = "TRIPLE-FAULT"
    ERROR = "ERROR"
    FORGED = "FORGED"               # something other than the runner claimed a verdict
    POLICY = "POLICY"               # the student's files break the policy: nothing ran

    def __str__(self):
        return self.value


@dataclass
class Frame:
    """One backtrace line: '  #<index> 0x<addr> <function>+0x<offset>'."""
    index: int
    addr: int
    function: str   # "?" when the kernel could not symbolize the address
    offset: int
    line: str

    def __str__(self):
        return self.line.strip()


@dataclass
class Outcome:
    """What happened to one kernel test inside a run (several may share one boot)."""
    name: str
    verdict: Verdict
    ms: int = None          # from TEST-PASS
    failure: str = None     # "<file>:<line>: <msg>" from TEST-FAIL
    reason: str = None      # why it was skipped, from TEST-SKIP


# ANSI escapes (GRUB or a terminal driver may leave some on the first line).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_START = re.compile(r"TEST-START (\S+)")
_METRIC = re.compile(r"METRIC (\S+) ([^=\s]+)=(\S+)")
_PASS = re.compile(r"TEST-PASS (\S+)(?: ms=(\d+))?")
_FAIL = re.compile(r"TEST-FAIL (\S+) ?(.*)")
_SKIP = re.compile(r"TEST-SKIP (\S+) ?(.*)")
_DONE = re.compile(r"TESTS-DONE passed=(\d+) failed=(\d+)(?: skipped=(\d+))?")
_EXIT = re.compile(r"EXIT (\d+)")
_UNSUPPORTED = re.compile(r"KEV-UNSUPPORTED: ?(?:this CPU has no )?(.*?)\.?$")
_GUEST = re.compile(r"guest(\d*)\| ?(.*)")
_NOT_IMPL = re.compile(r"NOT-IMPLEMENTED (\S+)(?: \((.*)\))?")
_FRAME = re.compile(r"\s*#(\d+)\s+0x([0-9a-fA-F]+)(?:\s+(\S+))?")
_SYMBOL = re.compile(r"(.+)\+0x([0-9a-fA-F]+)")


def parse_value(text):
    """METRIC values are integers (decimal or 0x hex) in practice; keep anything else as is."""
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _frame(match, line):
    symbol = match.group(3) or "?"
    function, offset = symbol, 0
    sym = _SYMBOL.fullmatch(symbol)
    if sym:
        function, offset = sym.group(1), int(sym.group(2), 16)
    return Frame(int(match.group(1)), int(match.group(2), 16), function, offset, line)


@dataclass
class CpuReport:
    """Where one CPU was when the watchdog stopped it (keos/watchdog.c)."""
    cpu: int
    thread: str = None      # None: the CPU did not answer the NMI
    frames: list = field(default_factory=list)   # Frames, innermost first
    waits: str = None       # "cpu1 waits for npt_lock held by cpu3 since 0x... <fn+0x..>"
    guest: str = None       # "vm pager vcpu1 at guest rip 0x... (...)"

    @property
    def interrupted_code(self):
        """The frames of the code the outermost interrupt on the stack stopped: a CPU
        stopped during a timer tick or a preemption (trap, schedule) was running that code.
        All the frames when no interrupt is on the stack."""
        for k in range(len(self.frames) - 1, 0, -1):
            if self.frames[k - 1].function == "trap_common":
                return self.frames[k:]
        return self.frames


@dataclass
class Watchdog:
    """The kernel watchdog's report: the test that ran past its budget, every CPU."""
    test: str
    why: str                # "no verdict within its budget", "a CPU waited too long ..."
    cpus: list = field(default_factory=list)     # CpuReports, in CPU order
    after_ms: int = None    # how long the test had run when the watchdog fired
    budget_ms: int = None   # from TEST-TIMEOUT
    stall_ms: int = None    # interrupts off, or one lock wait, this long: a hang
    ended: bool = False     # the TEST-TIMEOUT line closed the report


@dataclass
class Log:
    """Everything the structured lines of one serial log say, in order of appearance."""
    lines: list = field(default_factory=list)
    started: list = field(default_factory=list)        # test names, in start order
    passed: dict = field(default_factory=dict)         # name -> ms (None if not printed)
    failed: dict = field(default_factory=dict)         # name -> "<file>:<line>: <msg>"
    skipped: dict = field(default_factory=dict)        # name -> reason
    metrics: dict = field(default_factory=dict)        # (test, key) -> value
    done: tuple = None                                 # (passed, failed, skipped)
    panic: str = None                                  # message of the first PANIC line
    panic_lines: list = field(default_factory=list)    # PANIC line and all lines after it
    backtrace: list = field(default_factory=list)      # Frames after PANIC / NOT-IMPLEMENTED
    not_implemented: str = None                        # function name
    not_implemented_at: str = None                     # "<file>:<line>"
    unsupported: str = None                            # what the CPU lacks ("SVM (AMD-V)")
    unsupported_lines: list = field(default_factory=list)  # that line and the hint after it
    guest_lines: list = field(default_factory=list)    # (vcpu or None, text), in order
    exit_code: int = None                              # the runner's EXIT line
    forged: list = field(default_factory=list)         # console lines posing as verdicts
    channel_problems: list = field(default_factory=list)  # channel lines that do not verify
    lock_waits: list = field(default_factory=list)     # LOCK-WAIT reports, prefix removed
    watchdog: Watchdog = None                          # the watchdog's report, if it fired

    def has_verdict_line(self):
        return self.done is not None or self.panic is not None or \
            self.not_implemented is not None or self.unsupported is not None

    @property
    def console(self):
        """Everything the guests printed, one line each, without the "guest| " prefix."""
        return "".join(text + "\n" for _, text in self.guest_lines)


def parse_log(text, channel="", secret=None):
    """The console `text` and the verdict `channel` (checked against `secret`)."""
    log = Log()
    for line in _console_lines(log, text):
        _parse_console_line(log, line)
    lines, log.channel_problems = channel_mod.verify(channel, secret)
    for line in lines:
        _parse_verdict_line(log, line)
    return log


def parse_host_output(text):
    """The output of grader/host's test runner: a Linux process that prints the kernel
    runner's verdict lines and console lines on one stream (stdout). Nothing there is
    authenticated: what the tests on the host decide is not a grade."""
    log = Log()
    for line in _console_lines(log, text):
        if channel_mod.VERDICT_LIKE.match(line):
            _parse_verdict_line(log, line.strip())
        else:
            _parse_console_line(log, line)
    return log


def _console_lines(log, text):
    """The lines of `text` without colour codes and carriage returns, kept in log.lines."""
    for raw in text.splitlines():
        line = _ANSI.sub("", raw).rstrip("\r")
        log.lines.append(line)
        yield line


def _parse_console_line(log, line):
    if m := _GUEST.match(line):
        # A guest's output: it may say anything, so it is never a verdict of ours.
        log.guest_lines.append((int(m.group(1)) if m.group(1) else None, m.group(2)))
        return
    if channel_mod.VERDICT_LIKE.match(line):
        log.forged.append(line)
        return
    if _parse_watchdog_line(log, line):
        return
    if log.panic is not None:
        # Everything after a panic is its report: registers, then the backtrace.
        log.panic_lines.append(line)
        m = _FRAME.match(line)
        if m and not line.startswith("PANIC"):
            log.backtrace.append(_frame(m, line))
        return
    if log.not_implemented is not None and (m := _FRAME.match(line)):
        log.backtrace.append(_frame(m, line))
        return
    if log.unsupported is not None:
        # The hint that follows says how to start QEMU with SVM and NPT.
        if line.strip():
            log.unsupported_lines.append(line)
        return
    if line.startswith("PANIC"):
        log.panic = line[len("PANIC"):].lstrip(" :")
        log.panic_lines.append(line)
    elif (m := _UNSUPPORTED.match(line)) and log.unsupported is None:
        log.unsupported = m.group(1)
        log.unsupported_lines.append(line)
    elif (m := _NOT_IMPL.match(line)) and log.not_implemented is None:
        log.not_implemented = m.group(1)
        log.not_implemented_at = m.group(2)


def _parse_verdict_line(log, line):
    """One authenticated line of the verdict channel."""
    if m := _START.match(line):
        if m.group(1) not in log.started:
            log.started.append(m.group(1))
    elif m := _METRIC.match(line):
        log.metrics[(m.group(1), m.group(2))] = parse_value(m.group(3))
    elif m := _PASS.match(line):
        log.passed[m.group(1)] = int(m.group(2)) if m.group(2) else None
    elif m := _FAIL.match(line):
        log.failed.setdefault(m.group(1), m.group(2).strip())
    elif m := _SKIP.match(line):
        log.skipped.setdefault(m.group(1), m.group(2).strip())
    elif m := _DONE.match(line):
        log.done = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    elif m := _EXIT.fullmatch(line):
        log.exit_code = int(m.group(1))


_LOCK_WAIT = re.compile(r"LOCK-WAIT (cpu\d+ waits for .*)")
_WATCHDOG = re.compile(r"WATCHDOG (\S+): (.*?)(?:, (\d+) ms into the test)?; stopping every CPU")
_WATCHDOG_CPU = re.compile(r"WATCHDOG-CPU (\d+) (?:thread (\S+)|did not answer)")
_CPU_WAITS = re.compile(r"\s+(cpu\d+ waits for .*)")
_IN_GUEST = re.compile(r"\s+in guest: (.*)")
_TEST_TIMEOUT = re.compile(r"TEST-TIMEOUT (\S+) budget_ms=(\d+) stall_ms=(\d+)")


def _parse_watchdog_line(log, line):
    """LOCK-WAIT lines and the watchdog's report; True if the line was one of them."""
    if m := _LOCK_WAIT.match(line):
        log.lock_waits.append(m.group(1))
        return True
    # search, not match: a line that an NMI cut in two may run into the report's own
    if m := _WATCHDOG.search(line):
        if log.watchdog is None:
            log.watchdog = Watchdog(m.group(1), m.group(2),
                                    after_ms=int(m.group(3)) if m.group(3) else None)
        return True
    wd = log.watchdog
    if wd is None or wd.ended:
        return False
    if m := _WATCHDOG_CPU.search(line):
        wd.cpus.append(CpuReport(int(m.group(1)), m.group(2)))
    elif m := _TEST_TIMEOUT.match(line):
        wd.ended = True
        wd.budget_ms, wd.stall_ms = int(m.group(2)), int(m.group(3))
    elif wd.cpus and (m := _CPU_WAITS.match(line)):
        wd.cpus[-1].waits = m.group(1)
    elif wd.cpus and (m := _IN_GUEST.match(line)):
        wd.cpus[-1].guest = m.group(1)
    elif wd.cpus and (m := _FRAME.match(line)):
        wd.cpus[-1].frames.append(_frame(m, line))
    else:
        return line.strip() == "BACKTRACE:"
    return True


def _classify_watchdog(log):
    if log.watchdog is None:
        return Verdict.TIMEOUT, "exit status says TIMEOUT but no WATCHDOG report was printed"
    wd = log.watchdog
    return Verdict.TIMEOUT, (f"the kernel's watchdog stopped {wd.test}: {wd.why} "
                             f"(budget {wd.budget_ms} ms, stalls {wd.stall_ms} ms)")


def classify(log, status, timed_out=False, killed_after_done=False):
    """Return (verdict, note). `note` says why, when the answer is not the obvious one.

    `status` is QEMU's exit status (negative: killed by that signal). `timed_out`: the
    harness killed QEMU at the deadline. `killed_after_done`: QEMU printed TESTS-DONE
    but did not exit within the grace period, so the harness stopped it.
    """
    if forged := _forgery(log, status):
        return Verdict.FORGED, f"marked for review: {forged}"
    if killed_after_done:
        verdict, note = _check_done(log, "TESTS-DONE")
        stopped = "QEMU did not exit after TESTS-DONE; the harness stopped it"
        return verdict, f"{stopped}; {note}" if note else stopped
    if timed_out:
        return Verdict.TIMEOUT, None
    if log.done == (0, 0, 0) and status in (STATUS_PASS, STATUS_FAIL):
        return Verdict.ERROR, "no test ran: the selection matched no test"
    if status == STATUS_UNSUPPORTED:
        if log.unsupported is None:
            return (Verdict.UNSUPPORTED,
                    "exit status says UNSUPPORTED but no KEV-UNSUPPORTED line was printed")
        return Verdict.UNSUPPORTED, None
    if status == STATUS_PASS:
        return _check_done(log, "exit status 33 (PASS)")
    if status == STATUS_FAIL:
        if not log.failed:
            return Verdict.FAIL, "exit status says FAIL but no TEST-FAIL line was printed"
        return Verdict.FAIL, None
    if status == STATUS_PANIC:
        if log.panic is None:
            return Verdict.PANIC, "exit status says PANIC but no PANIC line was printed"
        return Verdict.PANIC, None
    if status == STATUS_NOT_IMPL:
        return Verdict.NOT_IMPLEMENTED, None
    if status == STATUS_TIMEOUT:
        return _classify_watchdog(log)
    if status == STATUS_RESET and not log.has_verdict_line():
        return (Verdict.TRIPLE_FAULT,
                "QEMU exited with status 0 and no verdict line (triple fault or reset)")
    if status is not None and status < 0:
        return Verdict.ERROR, f"QEMU was killed by signal {-status}"
    return Verdict.ERROR, f"unexpected QEMU exit status {status}"


def _forgery(log, status):
    """Why this run's verdict cannot be trusted, or None."""
    if log.forged:
        return f"forged verdict line in the console output: {log.forged[0][:100]!r}"
    if log.channel_problems:
        return log.channel_problems[0]
    if status == STATUS_PASS and log.exit_code != (STATUS_PASS - 1) // 2:
        return ("QEMU exited with status 33 (PASS), but the test runner did not write "
                "that exit on the verdict channel: other code wrote the exit port")
    return None


def _check_done(log, source):
    """PASS only if TESTS-DONE agrees with the per-test lines and something ran.
    SKIP if some test could not be graded here and none failed: not a pass."""
    if log.done is None:
        return Verdict.ERROR, f"{source} but no TESTS-DONE line was printed"
    passed, failed, skipped = log.done
    if failed:
        return Verdict.FAIL, None
    if log.failed:
        return Verdict.FAIL, f"{source} but a TEST-FAIL line was printed"
    if passed + skipped == 0:
        return Verdict.ERROR, "no test ran: the selection matched no test"
    if passed != len(log.passed):
        return (Verdict.ERROR, f"TESTS-DONE says passed={passed} but "
                f"{len(log.passed)} TEST-PASS lines were printed")
    if skipped != len(log.skipped):
        return (Verdict.ERROR, f"TESTS-DONE says skipped={skipped} but "
                f"{len(log.skipped)} TEST-SKIP lines were printed")
    if skipped:
        return Verdict.SKIP, "; ".join(f"{n}: {why}" for n, why in log.skipped.items())
    return Verdict.PASS, None


def outcomes_by_test(log, verdict):
    """Per-test verdicts. A test that started and never finished gets the run's verdict
    (PANIC, TIMEOUT, ...), or ERROR if the run itself ended normally."""
    names = list(log.started)
    names += [n for n in list(log.passed) + list(log.failed) + list(log.skipped)
              if n not in names]
    unfinished = verdict if verdict not in (Verdict.PASS, Verdict.FAIL, Verdict.SKIP) \
        else Verdict.ERROR
    out = {}
    for name in names:
        if verdict == Verdict.FORGED:       # nothing in a forged run counts
            out[name] = Outcome(name, Verdict.FORGED)
            continue
        if name in log.failed:
            out[name] = Outcome(name, Verdict.FAIL, failure=log.failed[name])
        elif name in log.skipped:
            out[name] = Outcome(name, Verdict.SKIP, reason=log.skipped[name])
        elif name in log.passed:
            out[name] = Outcome(name, Verdict.PASS, ms=log.passed[name])
        else:
            out[name] = Outcome(name, unfinished)
    return out


def _log_view(name, doc=None):
    """A read-only attribute of Result: the one of its Log called `name`."""
    return property(lambda self: getattr(self.log, name), doc=doc)


@dataclass
class Result:
    """The outcome of one QEMU run. See README.md for the fields."""
    selection: str
    verdict: Verdict
    status: int                 # QEMU exit status; negative = killed by that signal
    wall_s: float               # QEMU spawn to TESTS-DONE line, or to its exit
    log_text: str
    log_path: str = None
    channel_text: str = ""      # the verdict channel as received
    note: str = None            # why the verdict is what it is, when not obvious
    stderr: str = ""
    cmd: list = field(default_factory=list)
    pid: int = None
    start_time: int = None      # of the QEMU process (/proc/<pid>/stat), to tell it apart
    first_line_s: float = None  # QEMU spawn to the first serial line (boot time)
    timeout_s: float = None
    log: Log = field(default_factory=Log, repr=False)
    tests: dict = field(default_factory=dict)   # name -> Outcome

    @classmethod
    def from_output(cls, text, status, selection="", timed_out=False,
                    killed_after_done=False, wall_s=0.0, channel="", secret=None, **kw):
        """Parse the console `text` and the verdict `channel` (its MACs checked with
        `secret`) and decide the verdict; `kw` fills the remaining fields."""
        log = parse_log(text, channel, secret)
        verdict, note = classify(log, status, timed_out, killed_after_done)
        return cls(selection=selection, verdict=verdict, status=status, wall_s=wall_s,
                   log_text=text, channel_text=channel, note=note, log=log,
                   tests=outcomes_by_test(log, verdict), **kw)

    # Convenient views of the parsed log.
    metrics = _log_view("metrics")
    panic = _log_view("panic")
    backtrace = _log_view("backtrace")
    not_implemented = _log_view("not_implemented")
    unsupported = _log_view(
        "unsupported", 'What the CPU lacks ("KEV-UNSUPPORTED: this CPU has no <what>."), or None.')
    console = _log_view(
        "console", 'What the guests printed ("guest| " lines), prefix removed, one line each.')

    @property
    def failure(self):
        """The first failed check, "<file>:<line>: <msg>", or None."""
        return next(iter(self.log.failed.values()), None)

    @property
    def failures(self):
        return dict(self.log.failed)

    @property
    def skipped(self):
        """{test: reason} for every TEST-SKIP line."""
        return dict(self.log.skipped)

    @property
    def backtrace_functions(self):
        return [f.function for f in self.log.backtrace]

    def metric(self, key, test=None):
        """The value of METRIC <test> <key>; test may be omitted if only one test has it."""
        if test is not None:
            return self.metrics[(test, key)]
        found = [v for (t, k), v in self.metrics.items() if k == key]
        if len(found) != 1:
            raise KeyError(f"metric {key!r}: {len(found)} tests report it; name the test")
        return found[0]

    def test_lines(self, name):
        """The console lines of test `name` alone (from the runner's "[test] <name>: start"
        copy to the one that ends it, keos/test.c), for checks on what one test of a
        many-test boot printed."""
        out = []
        ends = tuple(f"[test] {name}: {v}" for v in ("PASS", "FAIL", "SKIP"))
        for line in self.log.lines:
            if not out and line != f"[test] {name}: start":
                continue
            out.append(line)
            if line.startswith(ends):
                break
        return out

    def tail(self, n=25):
        return "\n".join(self.log.lines[-n:])

    def explain(self, tail=25):
        """A multi-line description for assertion messages and the grader."""
        status = "none" if self.status is None else self.status
        out = [f"{self.selection}: {self.verdict} after {self.wall_s:.2f} s "
               f"(QEMU exit status {status})"]
        if self.note:
            out.append(f"  note: {self.note}")
        for line in self.log.forged[:10]:
            out.append(f"  forged verdict line in the console output: {line}")
        for name, what in self.log.failed.items():
            out.append(f"  failed check in {name}: {what}")
        if self.log.panic is not None:
            out.append("  panic report:")
            out += ["    " + line for line in self.log.panic_lines[:60]]
        if self.log.not_implemented:
            at = f" ({self.log.not_implemented_at})" if self.log.not_implemented_at else ""
            out.append(f"  not implemented: {self.log.not_implemented}{at}")
            out += ["    " + str(frame) for frame in self.log.backtrace]
        for name, why in self.log.skipped.items():
            out.append(f"  skipped {name} (could not be graded on this machine): {why}")
        if self.log.unsupported is not None:
            out.append("  the CPU cannot run guests:")
            out += ["    " + line for line in self.log.unsupported_lines]
        if self.log.watchdog is not None or self.log.lock_waits:
            from .where import watchdog_report   # addr2line on the kernel: not for parsing
            out += ["  " + line for line in watchdog_report(self)]
        elif self.verdict == Verdict.TIMEOUT:
            out.append(f"  no verdict within {self.timeout_s} s; QEMU was killed")
        if self.stderr.strip():
            out.append("  QEMU stderr:")
            out += ["    " + line for line in self.stderr.strip().splitlines()[-10:]]
        detailed = (self.verdict == Verdict.FAIL and self.log.failed) or \
            (self.verdict == Verdict.PANIC and self.log.panic is not None)
        if not detailed:
            out.append(f"  last {tail} lines of the serial log:")
            out += ["    " + line for line in self.log.lines[-tail:]] or ["    (empty)"]
        out.append(f"  log: {self.log_path}")
        return "\n".join(out)

    def expect(self, verdict):
        """Assert the verdict. Under pytest a SKIP (the kernel could not grade the test on
        this machine) skips the calling test instead of failing it, unless SKIP is what
        was expected."""
        __tracebackhide__ = True
        if self.verdict == Verdict.SKIP and verdict != Verdict.SKIP:
            import pytest
            pytest.skip(f"{self.selection}: could not be graded on this machine: "
                        f"{self.note}")
        if self.verdict != verdict:
            raise AssertionError(f"expected {verdict}, got {self.verdict}\n{self.explain()}")
        return self

    def expect_pass(self):
        __tracebackhide__ = True
        return self.expect(Verdict.PASS)

    def timing_record(self):
        """A JSON-friendly summary (timings.json, the grader)."""
        return {
            "selection": self.selection,
            "verdict": str(self.verdict),
            "status": self.status,
            "wall_s": round(self.wall_s, 3),
            "first_line_s": _round(self.first_line_s),
            "tests": {n: str(t.verdict) for n, t in self.tests.items()},
            "metrics": {f"{t} {k}": v for (t, k), v in self.metrics.items()},
            "log": self.log_path,
        }


def _round(x):
    return None if x is None else round(x, 3)

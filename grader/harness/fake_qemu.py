"""A stand-in for qemu-system-x86_64, for testing the harness without a kernel.

It accepts the harness's QEMU command line, checks the options the real kernel depends
on, and plays the scenario named by the test selection (`-fw_cfg
name=opt/keos/test,string=fake.<scenario>`): prints serial lines on stdout and exits with
the status the real kernel would produce. Verdict lines go, signed with the secret from
`-fw_cfg name=opt/keos/secret`, to the verdict channel (`-debugcon file:PATH`), and a
"[test] ..." copy to the console, as keos/test.c does; the `forged_*` scenarios forge
them instead. If FAKE_QEMU_PIDFILE is set it writes its PID there first, so a test can
watch the process from outside.

    python3 fake_qemu.py <qemu arguments...>
"""

import os
import signal
import sys
import time

from verdict import VERDICT_LIKE, mac     # run as a script from harness/

BOOT = "KeOS booting (fake QEMU)"

REQUIRED = [
    ["-no-reboot"],
    ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
    ["-serial", "stdio"],
    ["-display", "none"],
    ["-monitor", "none"],
]


class Channel:
    """The runner's side of the verdict channel."""
    file = None
    secret = None
    seq = 0

    @classmethod
    def write(cls, text, tag=None):
        tag = tag or mac(cls.secret, cls.seq, text)
        cls.file.write(f"{cls.seq} {tag} {text}\n")
        cls.file.flush()
        cls.seq += 1

PANIC_REPORT = [
    "",
    "PANIC: NULL pointer dereference: page fault at 0x0, rip 0xffffffff80104a2b "
    "(cpu 0, thread selftest.null_deref)",
    "  rip ffffffff80104a2b  rsp ffff80000011ff80  rflags 0000000000000286",
    "  rax 0000000000000000  rbx ffff800000112000  rcx 0000000000000001",
    "BACKTRACE:",
    "  #0 0xffffffff80104a2b ktest_selftest_null_deref+0xb",
    "  #1 0xffffffff80102f10 test_thread+0x10",
    "  #2 0xffffffff80101234 ??+0x0",
]


def console(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def out(line):
    """A line as the kernel would print it: verdict lines to the channel, signed, and a
    human copy to the console; anything else to the console."""
    if VERDICT_LIKE.match(line):
        Channel.write(line)
        line = "[test] " + line
    console(line)


def option_values(argv, name):
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == name]


def parse_fw_cfg(text):
    """Split QEMU option text on single commas; ",," stands for a literal comma."""
    fields, cur, i = {}, "", 0
    parts = []
    while i < len(text):
        if text[i] == ",":
            if text[i + 1:i + 2] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    for part in parts:
        key, _, value = part.partition("=")
        fields[key] = value
    return fields


def fw_cfg_file(argv, name):
    for text in option_values(argv, "-fw_cfg"):
        fields = parse_fw_cfg(text)
        if fields.get("name") == name:
            return fields.get("string", "")
    return None


def selection(argv):
    return fw_cfg_file(argv, "opt/keos/test")


def open_channel(argv):
    paths = [v[len("file:"):] for v in option_values(argv, "-debugcon")
             if v.startswith("file:")]
    if not paths:
        sys.stderr.write("fake-qemu: missing option -debugcon file:PATH\n")
        sys.exit(1)
    Channel.file = open(paths[0], "w")
    Channel.secret = fw_cfg_file(argv, "opt/keos/secret") or "00" * 16


def check_args(argv):
    for opt in REQUIRED:
        if not any(argv[i:i + len(opt)] == opt for i in range(len(argv))):
            sys.stderr.write(f"fake-qemu: missing option {' '.join(opt)}\n")
            sys.exit(1)


def one_test(name, lines=(), ms=3):
    out(f"TEST-START {name}")
    for line in lines:
        out(line)
    out(f"TEST-PASS {name} ms={ms}")


def sleep_forever():
    while True:
        time.sleep(3600)


# The scenarios that only print: their lines ({sel} is the selection) and exit status.
SCRIPTS = {
    "fail": (["TEST-START {sel}",
              "TEST-FAIL {sel} kev/npt.c:42: CHECK_EQ(pte & PTE_P, PTE_P): 0x0 != 0x1",
              "TESTS-DONE passed=0 failed=1"], 35),
    "panic": (["TEST-START {sel}", *PANIC_REPORT], 37),
    "notimpl": (["TEST-START {sel}",
                 "NOT-IMPLEMENTED npt_map (project3/npt.c:17)",
                 "not implemented: npt_map (project3/npt.c:17)",
                 "BACKTRACE:",
                 "  #0 0xffffffff80105000 npt_map+0x1f"], 39),
    "triple": (["TEST-START {sel}"], 0),
    "none": (["TESTS-DONE passed=0 failed=0"], 33),
    "skip": (["TEST-START {sel}",
              "TEST-SKIP {sel} needs 2 CPUs, this machine has 1",
              "TESTS-DONE passed=0 failed=0 skipped=1"], 33),
    "unsupported": (["TEST-START {sel}",
                     "KEV-UNSUPPORTED: this CPU has no SVM (AMD-V).",
                     "KeV needs AMD SVM with nested paging. Under QEMU's software emulation run",
                     "  qemu-system-x86_64 -cpu qemu64,+svm,+npt ...   (as `make run` does)"], 41),
    # Student code writing the PASS code to the exit port, nothing else.
    "forged_exit": (["TEST-START {sel}"], 33),
}


def one_passed(sel, lines=()):
    """A run of one test that passes; returns the exit status."""
    one_test(sel, lines)
    out("TESTS-DONE passed=1 failed=0")
    return 33


def scenario(name, sel, argv):
    out(BOOT)
    if name in SCRIPTS:
        lines, status = SCRIPTS[name]
        for line in lines:
            out(line.format(sel=sel))
        return status
    if name == "pass":
        return one_passed(sel, [f"METRIC {sel} faults=12", f"METRIC {sel} addr=0x1000"])
    if name == "crash":
        sys.stderr.write("qemu-system-x86_64: -cdrom build/keos.iso: Could not open\n")
        return 1
    if name in ("a", "b", "c"):
        # The tests of "multi", alone: all pass (b fails only in company).
        return one_passed(sel)
    if name == "multi":
        one_test("fake.a", ["METRIC fake.a pages=3"], ms=7)
        out("TEST-START fake.b")
        out("TEST-FAIL fake.b kev/mmio.c:99: CHECK(len == 4)")
        one_test("fake.c", ["METRIC fake.c pages=5"], ms=9)
        out("TESTS-DONE passed=2 failed=1")
        return 35
    if name == "echo":
        return one_passed("fake.echo", [f"SELECTION {sel}",
                                        "CPU " + ",".join(option_values(argv, "-cpu")),
                                        "SMP " + ",".join(option_values(argv, "-smp")),
                                        "ARGV " + " ".join(argv)])
    if name == "slow":
        # The verdict line comes 0.5 s in, the exit 1 s later: wall time must be ~0.5 s.
        time.sleep(0.5)
        status = one_passed(sel)
        time.sleep(1.0)
        return status
    if name == "done_hang":
        one_passed(sel)
        sleep_forever()
    if name == "hang":
        out(f"TEST-START {sel}")
        sleep_forever()
    if name == "stubborn":
        # Ignores SIGTERM like a wedged QEMU: only SIGKILL ends it.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        out(f"TEST-START {sel}")
        sleep_forever()
    if name == "guest":
        # A guest that prints verdict-looking lines: they must not count.
        one_test(sel, ["guest| Hello from the guest!", "guest| TEST-FAIL x a.c:1: fake",
                       "guest2| PANIC: not really", "guest| TESTS-DONE passed=0 failed=9"])
        out("TESTS-DONE passed=1 failed=0 skipped=0")
        return 33
    if name == "partial":
        # The console ends without a newline after the last line.
        status = one_passed(sel)
        sys.stdout.write("[test] done")
        sys.stdout.flush()
        return status
    if name == "forged_console":
        # Student code printing the runner's lines on the console, then exiting as PASS.
        out(f"TEST-START {sel}")
        console(f"TEST-PASS {sel} ms=1")
        console("TESTS-DONE passed=1 failed=0 skipped=0")
        return 33
    if name == "forged_mac":
        # Lines on the verdict channel itself, without the secret.
        out(f"TEST-START {sel}")
        for line in (f"TEST-PASS {sel} ms=1", "TESTS-DONE passed=1 failed=0 skipped=0",
                     "EXIT 16"):
            Channel.write(line, tag="0" * 16)
        return 33
    sys.stderr.write(f"fake-qemu: unknown scenario {name!r}\n")
    return 2


def main(argv):
    pidfile = os.environ.get("FAKE_QEMU_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(str(os.getpid()))
    check_args(argv)
    sel = selection(argv)
    if sel is None:
        sys.stderr.write("fake-qemu: no -fw_cfg name=opt/keos/test\n")
        return 1
    name = sel.split(",")[0]
    if not name.startswith("fake."):
        sys.stderr.write(f"fake-qemu: selection {sel!r} is not fake.<scenario>\n")
        return 1
    open_channel(argv)
    name = name[len("fake."):]
    status = scenario(name, sel, argv)
    if status in (33, 35) and not name.startswith("forged_"):
        Channel.write(f"EXIT {(status - 1) // 2}")     # as the runner's test_exit()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The KeOS test harness: run the kernel in QEMU and parse what it prints.

    from harness import Verdict       # in tests; the `keos` fixture comes from plugin.py
"""

from .log import Frame, Log, Outcome, Result, Verdict, classify, parse_log
from .qemu import QemuMissing, is_alive, live_pids, qemu_args, run

__all__ = ["Frame", "Log", "Outcome", "Result", "Verdict", "classify", "parse_log",
           "QemuMissing", "is_alive", "live_pids", "qemu_args", "run"]

"""What the harness's own tests use in place of the real thing: the fake QEMU
(fake_qemu.py), a rubric of its scenarios, and a check that a run left no process.

    from harness.fakes import FAKE_QEMU, assert_gone
    result = keos("fake.pass", qemu_cmd=FAKE_QEMU)
    assert_gone(result)
"""

import signal
import sys
from pathlib import Path

from . import qemu

FAKE_QEMU = [sys.executable, str(Path(__file__).with_name("fake_qemu.py"))]


def interruptible():
    """Popen's preexec_fn for a child a test will Ctrl-C (SIGINT): the signal's default
    action, whatever this process inherited. A job that a non-interactive shell started in
    the background inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt: the child would not stop at all, and the test would fail."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# grade.py --rubric: one test of each kind the fake plays (50 of 100 points pass). Every
# grade with it waits out fake.hang's timeout: short.
FAKE_RUBRIC = """
[defaults]
timeout = 10
[tests."fake.pass"]
points = 50
[tests."fake.fail"]
points = 20
[tests."fake.skip"]
points = 10
[tests."fake.notimpl"]
points = 10
[tests."fake.hang"]
points = 10
timeout = 0.5
"""


def assert_gone(result):
    """The QEMU (or fake) of `result` no longer exists, and none is tracked as live."""
    assert result.pid is not None and result.start_time is not None
    assert not qemu.is_alive(result.pid, result.start_time), \
        f"process {result.pid} is still alive (state {qemu.proc_state(result.pid)})"
    assert qemu.live_pids() == [], f"harness still tracks live QEMUs: {qemu.live_pids()}"

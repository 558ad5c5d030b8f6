"""The student's path through the Makefile, on real runs: `make run` and `make run-gdb`
fail unless the verdict is PASS (scripts and editors rely on the status), and
`make run TEST=project3` runs exactly the rubric's tests in one boot."""
import re
import socket
import subprocess
import time

import pytest

from harness import ktests, qemu, rubric
from harness.gdb_batch import free_port
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not SOLUTION_DIR.is_dir(), reason="solution/ is not here")]

# Fails a check at once: the kernel's self-test of a failing test (keos/tests/core_tests.c).
FAILING = "selftest.assert_fail"


def make(*args, timeout=300, **kw):
    return subprocess.run(["make", "-s", "--no-print-directory", "SOLUTION=1", *args],
                          cwd=qemu.ROOT, capture_output=True, text=True, timeout=timeout,
                          **kw)


def test_make_run_fails_unless_pass(keos_build):
    keos_build.ensure(SOLUTION_IMAGE)
    done = make("run", f"TEST={FAILING}")
    out = done.stdout + done.stderr
    assert done.returncode != 0, f"make run exited 0 on a failing test:\n{out}"
    assert re.search(rf"^{re.escape(FAILING)}: FAIL after ", out, re.M), \
        f"make run lost its verdict line:\n{out}"
    passed = make("run", "TEST=selftest.pass")
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_make_run_gdb_fails_unless_pass(keos_build):
    """run-gdb waits for gdb; a gdb that only continues lets the test fail."""
    keos_build.ensure(SOLUTION_IMAGE)
    port = free_port()
    run = subprocess.Popen(["make", "-s", "--no-print-directory", "SOLUTION=1", "run-gdb",
                            f"TEST={FAILING}", f"GDBPORT={port}"], cwd=qemu.ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("localhost", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("make run-gdb: QEMU never listened for gdb")
        subprocess.run(["gdb", "-q", "-nx", "-batch", "-ex", f"target remote localhost:{port}",
                        "-ex", "continue"], capture_output=True, timeout=120)
        out, _ = run.communicate(timeout=120)
    finally:
        run.kill()
        run.wait()
    assert run.returncode != 0, f"make run-gdb exited 0 on a failing test:\n{out}"
    assert re.search(rf"^{re.escape(FAILING)}: FAIL after ", out, re.M), out


def test_project3_selection_is_the_rubric():
    """TEST=project3 selects every graded test and nothing else, whatever other tests the
    kernel has in those groups, and fits the kernel's 255 bytes."""
    graded = [i.name for i in rubric.load()]
    kernel = ktests.from_sources(qemu.ROOT)
    sel = rubric.selection(kernel)
    assert sorted(ktests.selected(kernel, sel)) == sorted(graded), sel
    assert len(sel) < 256, sel
    extra = kernel + [f"{graded[0].split('.')[0]}.not_graded"]
    assert sorted(ktests.selected(extra, rubric.selection(extra))) == sorted(graded)


def test_make_run_project3(keos_build):
    keos_build.ensure(SOLUTION_IMAGE)
    done = make("run", "TEST=project3", timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    ran = re.findall(r"^\[test\] (\S+): start$", out, re.M)
    assert sorted(ran) == sorted(i.name for i in rubric.load()), out


def test_handout_names_make_runs_default():
    """handouts/project3.md section 6 says what a bare `make run` runs: the Makefile's TEST."""
    default = subprocess.run(["make", "-s", "--no-print-directory", "print-TEST"],
                             cwd=qemu.ROOT, capture_output=True, text=True,
                             timeout=60).stdout.split()[-1]
    text = (qemu.ROOT / "handouts" / "project3.md").read_text()
    said = re.search(r"^make run +# the default TEST: (\S+)", text, re.M)
    assert said, "handouts/project3.md section 6 does not say what `make run` runs"
    assert said.group(1) == default, f"the handout says {said.group(1)}, the Makefile {default}"

"""pytest plugin: the `keos` fixture, the timeout_s marker, and the QEMU timing summary.

    def test_palloc(keos):
        keos("keos.palloc").expect_pass()

    @pytest.mark.timeout_s(5)
    def test_npt_many(keos):
        result = keos("kev.npt_many", smp=2)
        result.expect_pass()
        assert result.metric("faults") > 0

Each call starts one QEMU (runs are never shared between tests), writes the serial log to
build/logs/<test id>.log, and records the run for the end-of-session timing table and
build/logs/timings.json. Runs in a pytest-xdist worker reach the controller through the
report's user_properties.
"""

import fcntl
import hashlib
import json
import os
import re
import subprocess

import pytest

from . import qemu
from .qemu import QemuMissing

DEFAULT_TIMEOUT_S = 30.0
RUN_PROPERTY = "keos_run"


def pytest_addoption(parser):
    group = parser.getgroup("keos", "KeOS QEMU harness")
    group.addoption("--keos-timeout-scale", type=float,
                    default=float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")),
                    help="multiply every QEMU timeout (slow machine; env KEOS_TIMEOUT_SCALE)")
    group.addoption("--keos-make", action="store_true",
                    help="run `make` once before the first QEMU run even if build/keos.iso "
                         "exists (by default only when it is missing)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"timeout_s(seconds): wall-clock limit of each QEMU run in the test "
                   f"(default {DEFAULT_TIMEOUT_S:g})")
    if not hasattr(config, "workerinput"):      # the xdist controller, or no xdist at all
        config.pluginmanager.register(TimingReport(), "keos-timing-report")


def log_name(nodeid):
    """A file name for a test's log: the node id with unsafe characters replaced."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")
    if len(name) > 150:
        name = name[:130] + "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]
    return name


class Build:
    """Makes sure the ISO exists and QEMU is installed, once per session (and process)."""

    def __init__(self, always):
        self.always = always
        self.ready = False
        self.error = None

    def ensure(self):
        __tracebackhide__ = True
        if not self.ready and self.error is None:
            self.error = self._check()
            self.ready = self.error is None
        if self.error:
            pytest.fail(self.error, pytrace=False)

    def _check(self):
        try:
            qemu.find_qemu()
        except QemuMissing as e:
            return str(e)
        if not self.always and self._built():
            return None
        qemu.BUILD.mkdir(parents=True, exist_ok=True)
        # pytest-xdist workers each get here: one runs make, the others wait and see.
        with open(qemu.BUILD / ".harness-make.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.always and self._built():
                return None
            made = subprocess.run(["make"], cwd=qemu.ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        if made.returncode != 0 or not self._built():
            tail = "\n".join(made.stdout.splitlines()[-40:])
            return (f"`make` in {qemu.ROOT} exited with status {made.returncode} and "
                    f"{qemu.ISO} / {qemu.DISK} are{'' if self._built() else ' not'} there:"
                    f"\n{tail}")
        return None

    @staticmethod
    def _built():
        return qemu.ISO.exists() and qemu.DISK.exists()


class Runner:
    """What the `keos` fixture returns: call it to boot the kernel on a test selection."""

    def __init__(self, request, build):
        self.request = request
        self.build = build
        self.results = []
        self.scale = request.config.getoption("keos_timeout_scale")
        marker = request.node.get_closest_marker("timeout_s")
        self.default_timeout = float(marker.args[0]) if marker else DEFAULT_TIMEOUT_S

    def __call__(self, test, timeout=None, smp=qemu.SMP, cpu=None, extra=(), qemu_cmd=None,
                 iso=None, disk=None):
        """Run `test` (name, comma list, or prefix*) in a new QEMU; return its Result.

        timeout: seconds (default: the timeout_s marker, else 30), times
        --keos-timeout-scale. cpu: -cpu value instead of qemu64,+svm,+npt. extra: more
        QEMU arguments. qemu_cmd: a program to run instead of QEMU (the harness tests).
        """
        __tracebackhide__ = True
        if qemu_cmd is None:
            self.build.ensure()
        seconds = (timeout if timeout is not None else self.default_timeout) * self.scale
        nodeid = self.request.node.nodeid
        name = log_name(nodeid)
        if self.results:
            name += f".{len(self.results) + 1}"
        try:
            result = qemu.run(test, timeout=seconds, smp=smp, cpu=cpu, extra=list(extra),
                              log_path=qemu.LOG_DIR / f"{name}.log", qemu=qemu_cmd,
                              iso=iso or qemu.ISO, disk=disk or qemu.DISK)
        except QemuMissing as e:
            pytest.fail(str(e), pytrace=False)
        self.results.append(result)
        record = dict(result.timing_record(), nodeid=nodeid, run=len(self.results))
        self.request.node.user_properties.append((RUN_PROPERTY, record))
        return result

    def finish(self):
        """Teardown: no QEMU started by this test may still run (run() already stops
        them; this only matters if a run was torn down in the middle)."""
        for result in self.results:
            qemu.stop_pid(result.pid)


@pytest.fixture(scope="session")
def keos_build(request):
    return Build(request.config.getoption("keos_make"))


@pytest.fixture
def keos(request, keos_build):
    runner = Runner(request, keos_build)
    yield runner
    runner.finish()


class TimingReport:
    """Collects every QEMU run (from this process or xdist workers) and reports them."""

    def __init__(self):
        self.runs = []
        self.path = qemu.LOG_DIR / "timings.json"

    def pytest_runtest_logreport(self, report):
        # The teardown report carries every property the test recorded.
        if report.when == "teardown":
            self.runs += [v for k, v in report.user_properties if k == RUN_PROPERTY]

    def pytest_sessionfinish(self, session):
        if not self.runs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        total = sum(r["wall_s"] for r in self.runs)
        with open(self.path, "w") as f:
            json.dump({"runs": self.runs, "total_wall_s": round(total, 3)}, f, indent=1)
            f.write("\n")

    def pytest_terminal_summary(self, terminalreporter):
        if not self.runs:
            return
        tr = terminalreporter
        tr.section("KeOS QEMU runs (wall time from QEMU start to verdict)")
        for r in sorted(self.runs, key=lambda r: (r["nodeid"], r["run"])):
            run = f" #{r['run']}" if r["run"] > 1 else ""
            tr.write_line(f"{r['wall_s']:7.2f}s  {r['verdict']:<15}  {r['nodeid']}{run}"
                          f"  [{r['selection']}]")
        total = sum(r["wall_s"] for r in self.runs)
        tr.write_line(f"{total:7.2f}s  total over {len(self.runs)} QEMU runs; "
                      f"written to {self.path}")

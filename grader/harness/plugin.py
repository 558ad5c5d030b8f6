"""pytest plugin: the `keos` fixture, the timeout_s marker (declared in grader/pytest.ini),
and the QEMU timing summary.

    def test_palloc(keos):
        keos("keos.palloc").expect_pass()

    @pytest.mark.timeout_s(5)
    def test_npt_many(keos):
        result = keos("kev.npt_many", smp=2)
        result.expect_pass()
        assert result.metric("faults") > 0

    def test_kev_exit(keos_solution):          # the reference solution's kernel
        keos_solution("kev.hypercall_exit").expect_pass()

Each call starts one QEMU (runs are never shared between tests), writes the serial log to
build/logs/<test id>.log, and records the run for the end-of-session timing table and
build/logs/timings.json. Runs in a pytest-xdist worker reach the controller through the
report's user_properties, and so do the numbers a test records with `keos.record()`.

The boot image is build/kernel.elf (booted directly) unless --keos-image (or env
KEOS_IMAGE) names another, or env KEOS_BOOT=iso picks build/keos.iso; KEOS_BUILD moves
build/ (`make check TOOLCHAIN=llvm` sets it). The `keos_solution` fixture boots the same
kind of image from build/solution/ (`make SOLUTION=1`) and skips the test where solution/
does not exist (students' copies).
"""

import fcntl
import hashlib
import json
import os
import pickle
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from . import ktests, qemu, schedule
from .log import Verdict
from .paths import MAKE_JOBS
from .qemu import QemuMissing

DEFAULT_TIMEOUT_S = 30.0
SHARED_TIMEOUT_S = 120.0    # one boot running a whole group (Runner.shared)
RUN_PROPERTY = "keos_run"
METRIC_PROPERTY = "keos_metric"
SOLUTION_DIR = qemu.ROOT / "solution"
SOLUTION_IMAGE = qemu.BUILD / "solution" / qemu.IMAGE.name
# The make variables that chose qemu.BUILD's toolchain (the Makefile sets this).
MAKE_VARS = os.environ.get("KEOS_MAKE_VARS", "").split()
SHARED_DIR = qemu.LOG_DIR / "shared"     # once_per_session()'s results, while it runs
EXPECTED = "expected"   # the timing table's verdict for a non-PASS run its test wanted
LONGEST_FIRST = "keos_longest_first"    # workerinput: order the collection (schedule.py)


def pytest_addoption(parser):
    group = parser.getgroup("keos", "KeOS QEMU harness")
    group.addoption("--keos-timeout-scale", type=float,
                    default=float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")),
                    help="multiply every QEMU timeout (slow machine; env KEOS_TIMEOUT_SCALE)")
    group.addoption("--keos-make", action="store_true",
                    help="run `make` once before the first QEMU run even if the boot image "
                         "exists (by default only when it is missing)")
    group.addoption("--keos-image", "--keos-iso", dest="keos_image",
                    default=os.environ.get("KEOS_IMAGE"),
                    help=f"the kernel ELF or ISO the `keos` fixture boots (env KEOS_IMAGE; "
                         f"default {_short(qemu.IMAGE)})")


def pytest_configure(config):
    if hasattr(config, "workerinput"):          # an xdist worker: the controller's run id
        config.keos_run_id = config.workerinput["testrunuid"]
    else:
        config.keos_run_id = config.getoption("testrunuid", None) or uuid.uuid4().hex
        if hasattr(config.option, "testrunuid"):
            config.option.testrunuid = config.keos_run_id   # the one xdist gives workers
    if not hasattr(config, "workerinput"):      # the xdist controller, or no xdist at all
        config.pluginmanager.register(TimingReport(), "keos-timing-report")


def pytest_collection_modifyitems(config, items):
    """In an xdist worker under our scheduler: longest tests first (harness/schedule.py)."""
    if getattr(config, "workerinput", {}).get(LONGEST_FIRST):
        items[:] = schedule.longest_first(items, schedule.load(config))[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """The controller's side of the longest-first order (None: xdist's own scheduler)."""
    return schedule.make_scheduler(config, log) if _load_scheduling(config) else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Tell the workers to order their collection for our scheduler (their own `dist`
    option stays "no")."""
    node.workerinput[LONGEST_FIRST] = _load_scheduling(node.config)


def _load_scheduling(config):
    return config.getoption("dist", None) == "load"


def log_name(nodeid):
    """A file name for a test's log: the node id with unsafe characters replaced."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")
    if len(name) > 150:
        name = name[:130] + "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]
    return name


def make_commands(image):
    """The make commands that build `image` and the disk, or None for an image make does
    not know (it must then exist already)."""
    image = Path(image).resolve()
    boot = "BOOT=iso" if image.suffix == ".iso" else "BOOT=direct"
    make = ["make", MAKE_JOBS, *MAKE_VARS, boot]
    if image == qemu.BUILD / image.name:
        return [make]
    if image == SOLUTION_IMAGE.parent / image.name:
        return [make + ["SOLUTION=1"]]   # the solution's image, and the disk
    return None


def make_locked(*args, timeout=900):
    """`make ARGS` in the repository, one at a time across pytest-xdist workers (they
    share build/: two makes of one file race). Returns the CompletedProcess."""
    (qemu.ROOT / "build").mkdir(parents=True, exist_ok=True)
    with open(qemu.ROOT / "build" / ".harness-make.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(["make", MAKE_JOBS, "--no-print-directory", *args],
                              cwd=qemu.ROOT, capture_output=True, text=True, timeout=timeout)


class Build:
    """Makes sure a boot image exists and QEMU is installed, once per image per session
    (and process): runs make if the image or the disk is missing, or always with
    --keos-make."""

    def __init__(self, always):
        self.always = always
        self.errors = {}        # image path -> error text, or None once it is ready

    def ensure(self, image=None):
        __tracebackhide__ = True
        image = Path(image or qemu.IMAGE)
        if image not in self.errors:
            self.errors[image] = self._check(image)
        if self.errors[image]:
            pytest.fail(self.errors[image], pytrace=False)

    def _check(self, image):
        try:
            qemu.find_qemu()
        except QemuMissing as e:
            return str(e)
        if not self.always and self._built(image):
            return None
        commands = make_commands(image)
        if commands is None:
            return None if self._built(image) else f"{image} or {qemu.DISK} does not exist"
        qemu.BUILD.mkdir(parents=True, exist_ok=True)
        # pytest-xdist workers each get here: one runs make, the others wait and see.
        with open(qemu.BUILD / ".harness-make.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.always and self._built(image):
                return None
            for cmd in commands:
                made = subprocess.run(cmd, cwd=qemu.ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                if made.returncode != 0:
                    break
        if made.returncode != 0 or not self._built(image):
            tail = "\n".join(made.stdout.splitlines()[-40:])
            return (f"`{' '.join(cmd)}` in {qemu.ROOT} exited with status {made.returncode} "
                    f"and {image} / {qemu.DISK} are{'' if self._built(image) else ' not'} there:"
                    f"\n{tail}")
        return None

    @staticmethod
    def _built(image):
        return image.exists() and qemu.DISK.exists()


def once_per_session(config, key, compute):
    """compute() once per pytest session, xdist workers included: the first caller
    computes (the others wait on a lock) and pickles the value for the rest."""
    SHARED_DIR.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    path = SHARED_DIR / f"{config.keos_run_id}-{digest}.pickle"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.write_bytes(pickle.dumps(value))
        return value


def forget_session(config):
    """Remove this session's once_per_session() files."""
    for path in SHARED_DIR.glob(f"{config.keos_run_id}-*"):
        path.unlink(missing_ok=True)


class Runner:
    """What the `keos` fixture returns: call it to boot the kernel on a test selection."""

    def __init__(self, request, build, image=None):
        self.request = request
        self.build = build
        option = request.config.getoption("keos_image")
        self.image = Path(image or (Path(option).resolve() if option else qemu.IMAGE))
        self.results = []
        self.scale = request.config.getoption("keos_timeout_scale")
        marker = request.node.get_closest_marker("timeout_s")
        self.default_timeout = float(marker.args[0]) if marker else DEFAULT_TIMEOUT_S

    def __call__(self, test, timeout=None, smp=qemu.SMP, cpu=None, extra=(), qemu_cmd=None,
                 image=None, disk=None, watchdog=None, stall=qemu.STALL_S):
        """Run `test` (name, comma list, or prefix*) in a new QEMU; return its Result.

        timeout: seconds (default: the timeout_s marker, else 30), times
        --keos-timeout-scale. cpu: -cpu value instead of qemu64,+svm,+npt. extra: more
        QEMU arguments. qemu_cmd: a program to run instead of QEMU (the harness tests).
        image: instead of the runner's image (--keos-image, build/kernel.elf).
        watchdog: each test's budget in seconds (default: most of the timeout), times
        the scale too; stall: the watchdog's stall limit (qemu.run), times the scale.
        """
        __tracebackhide__ = True
        image = Path(image or self.image)
        if qemu_cmd is None:
            self.build.ensure(image)
        seconds = (timeout if timeout is not None else self.default_timeout) * self.scale
        nodeid = self.request.node.nodeid
        name = log_name(nodeid)
        if self.results:
            name += f".{len(self.results) + 1}"
        try:
            result = qemu.run(test, timeout=seconds, smp=smp, cpu=cpu, extra=list(extra),
                              log_path=qemu.LOG_DIR / f"{name}.log", qemu=qemu_cmd,
                              image=image, disk=disk or qemu.DISK,
                              watchdog=watchdog and watchdog * self.scale,
                              stall=stall * self.scale)
        except QemuMissing as e:
            pytest.fail(str(e), pytrace=False)
        self.results.append(result)
        record = dict(result.timing_record(), nodeid=nodeid, run=len(self.results),
                      image=_short(image))
        self.request.node.user_properties.append((RUN_PROPERTY, record))
        return result

    def shared(self, test, timeout, smp=qemu.SMP, image=None, qemu_cmd=None):
        """Like calling the runner, but one QEMU serves every test of the session that
        asks for the same selection on the same image (in any xdist worker): for groups of
        tests whose isolation is not what they test. The first caller boots, records the
        run and keeps its log as build/logs/shared-<selection>.log; the others get the
        same Result."""
        __tracebackhide__ = True
        image = Path(image or self.image)
        if qemu_cmd is None:
            self.build.ensure(image)
        key = ("shared", test, smp, str(image.resolve()), qemu_cmd)

        def boot():
            name = f"shared-{log_name(test)}-{log_name(_short(image))}"
            result = qemu.run(test, timeout=timeout * self.scale, smp=smp, image=image,
                              disk=qemu.DISK, log_path=qemu.LOG_DIR / f"{name}.log",
                              qemu=qemu_cmd)
            record = dict(result.timing_record(), nodeid=self.request.node.nodeid,
                          run=len(self.results) + 1, image=_short(image))
            self.request.node.user_properties.append((RUN_PROPERTY, record))
            return result
        try:
            return once_per_session(self.request.config, key, boot)
        except QemuMissing as e:
            pytest.fail(str(e), pytrace=False)

    def record(self, name, value, unit=""):
        """Report a number (a throughput, a latency) in the session summary and in
        timings.json. It is information, not a check."""
        self.request.node.user_properties.append((METRIC_PROPERTY, {
            "nodeid": self.request.node.nodeid, "name": name, "value": value, "unit": unit}))

    def finish(self):
        """Teardown: no QEMU started by this test may still run (run() already stops
        them; this only matters if a run was torn down in the middle)."""
        for result in self.results:
            qemu.stop_pid(result.pid)


def run_alone_if_not_passed(runner, group, selection, smp=qemu.SMP, qemu_cmd=None):
    """The Result in which the tests of `selection` (a name, a comma list, prefix*) passed:
    the session's one boot of `group` (Runner.shared), whose timeout is the runner's for
    each test of it. If one of them did not pass there, `selection` runs alone: its own
    report if it fails, and if it passes alone the tests of the group disturb each other,
    which fails the test."""
    __tracebackhide__ = True
    shared = runner.shared(group, timeout=SHARED_TIMEOUT_S, smp=smp, qemu_cmd=qemu_cmd)
    outcomes = {n: shared.tests[n] for n in ktests.selected(shared.tests, selection)}
    if outcomes and all(o.verdict == Verdict.PASS for o in outcomes.values()):
        return shared
    alone = runner(selection, smp=smp, qemu_cmd=qemu_cmd)
    alone.expect_pass()
    assert alone.tests, f"the selection {selection} ran nothing"
    broken = {n: str(o.verdict) for n, o in outcomes.items() if o.verdict != Verdict.PASS}
    if any(v != str(Verdict.SKIP) for v in broken.values()):
        ended = ", ".join(f"{n} {v}" for n, v in broken.items())
        pytest.fail(f"{selection} passes alone but not in one boot with the rest of {group} "
                    f"({ended}): the tests disturb each other\n{shared.explain()}",
                    pytrace=False)
    return alone


@pytest.fixture(scope="session")
def keos_build(request):
    return Build(request.config.getoption("keos_make"))


def _short(path):
    try:
        return str(Path(path).resolve().relative_to(qemu.ROOT))
    except ValueError:
        return str(path)


@pytest.fixture
def keos(request, keos_build):
    runner = Runner(request, keos_build)
    yield runner
    runner.finish()


@pytest.fixture
def keos_solution(request, keos_build):
    """Like `keos`, on the reference solution's image; skips where solution/ is absent."""
    if not SOLUTION_DIR.is_dir():
        pytest.skip("solution/ is not here (a student's copy): no reference kernel to run")
    runner = Runner(request, keos_build, image=SOLUTION_IMAGE)
    yield runner
    runner.finish()


class TimingReport:
    """Collects every QEMU run (from this process or xdist workers) and reports them."""

    def __init__(self):
        self.runs = []
        self.metrics = []
        self.failed = set()     # node ids of the tests that failed (in any phase)
        self.durations = {}     # node id -> seconds (harness/schedule.py)
        self.path = qemu.LOG_DIR / "timings.json"

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.add(report.nodeid)
        # Setup, call and teardown: the test's time for the next run's schedule.
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0) + report.duration
        # The teardown report carries every property the test recorded.
        if report.when == "teardown":
            self.runs += [v for k, v in report.user_properties if k == RUN_PROPERTY]
            self.metrics += [v for k, v in report.user_properties if k == METRIC_PROPERTY]

    def pytest_sessionfinish(self, session):
        forget_session(session.config)
        schedule.save(session.config, self.durations)
        if not self.runs and not self.metrics:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        total = sum(r["wall_s"] for r in self.runs)
        with open(self.path, "w") as f:
            json.dump({"runs": self.runs, "total_wall_s": round(total, 3),
                       "metrics": self.metrics}, f, indent=1)
            f.write("\n")

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if self.metrics:
            tr.section("KeOS measurements")
            for m in sorted(self.metrics, key=lambda m: (m["nodeid"], m["name"])):
                unit = f" {m['unit']}" if m["unit"] else ""
                tr.write_line(f"{m['value']:>12}{unit:<10} {m['name']:<28} {m['nodeid']}")
        if not self.runs:
            return
        tr.section("KeOS QEMU runs (wall time from QEMU start to verdict)")
        expected = 0
        for r in sorted(self.runs, key=lambda r: (r["nodeid"], r["run"])):
            run = f" #{r['run']}" if r["run"] > 1 else ""
            image = r.get("image", _short(qemu.IMAGE))
            on = f" on {image}" if image != _short(qemu.IMAGE) else ""
            verdict = self.shown_verdict(r)
            expected += verdict == EXPECTED
            tr.write_line(f"{r['wall_s']:7.2f}s  {verdict:<15}  {r['nodeid']}{run}"
                          f"  [{r['selection']}]{on}")
        total = sum(r["wall_s"] for r in self.runs)
        tr.write_line(f"{total:7.2f}s  total over {len(self.runs)} QEMU runs; "
                      f"written to {self.path}")
        if expected:
            tr.write_line(f"{EXPECTED}: {expected} runs did not PASS on purpose (self-tests of "
                          f"the harness and the grader, whose test passed); timings.json has "
                          f"their verdicts")

    def shown_verdict(self, run):
        """The run's verdict, or EXPECTED where the test that started it passed: a
        deliberately broken kernel (a self-test, a mutant) must not read as a failure
        beside a green session."""
        if run["verdict"] == str(Verdict.PASS) or run["nodeid"] in self.failed:
            return run["verdict"]
        return EXPECTED

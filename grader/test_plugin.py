"""The pytest plugin (harness/plugin.py) end to end: separate pytest sessions (pytester)
that load it, with and without pytest-xdist, on the fake QEMU. They read grader/pytest.ini
(-c), so they have this session's markers and --strict-markers."""

import json
from pathlib import Path

import pytest

from harness.fakes import FAKE_QEMU
from harness.paths import GRADER
from harness.plugin import log_name

PLUGIN_TESTS = """
import pytest
from harness import Verdict
FAKE_QEMU = {fake!r}

def test_pass(keos):
    keos("fake.pass", qemu_cmd=FAKE_QEMU).expect_pass()

def test_fail(keos):
    assert keos("fake.fail", qemu_cmd=FAKE_QEMU).verdict == Verdict.FAIL

@pytest.mark.timeout_s(0.5)
def test_hang(keos):
    keos("fake.hang", qemu_cmd=FAKE_QEMU).expect_pass()

def test_no_qemu():
    pass
"""

SHARED_TESTS = """
import pytest
from harness.plugin import run_alone_if_not_passed
FAKE_QEMU = {fake!r}

@pytest.mark.parametrize("name", ["fake.a", "fake.b", "fake.c"])
def test_in_one_boot(keos, name):
    run_alone_if_not_passed(keos, "fake.multi", name, qemu_cmd=FAKE_QEMU)
"""


@pytest.fixture
def session(pytester, monkeypatch):
    """session(tests, *args): run `tests` (a test file's text, FAKE_QEMU in {fake}) in a
    separate pytest process that loads the plugin and reads grader/pytest.ini. Returns
    pytester's RunResult; the plugin's logs go to `session.logs`."""
    monkeypatch.setenv("PYTHONPATH", str(GRADER))       # harness/, as grader/ tests see it
    monkeypatch.setenv("KEOS_LOG_DIR", str(pytester.path / "logs"))
    pytester.makeconftest("pytest_plugins = ['harness.plugin']")

    def run(tests, *args):
        pytester.makepyfile(test_fake=tests.format(fake=FAKE_QEMU))
        return pytester.runpytest_subprocess(
            "-c", str(GRADER / "pytest.ini"), "--rootdir", str(pytester.path),
            "-p", "no:cacheprovider", "-rA", str(pytester.path), *args, timeout=120)
    run.logs = pytester.path / "logs"
    return run


def xdist_args(xdist):
    if xdist:
        pytest.importorskip("xdist")
        return ["-n", "2"]
    return []


@pytest.mark.parametrize("xdist", [False, True])
def test_plugin_end_to_end(session, xdist):
    """A separate pytest session using the plugin: summary table and timings.json, with
    and without pytest-xdist (where runs travel from workers to the controller)."""
    done = session(PLUGIN_TESTS, *xdist_args(xdist))
    out = done.stdout.str()
    done.assert_outcomes(passed=3, failed=1)    # test_hang fails on purpose
    assert done.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "KeOS QEMU runs" in out, out
    timings = json.loads((session.logs / "timings.json").read_text())
    runs = {r["nodeid"]: r for r in timings["runs"]}
    assert {k: r["verdict"] for k, r in runs.items()} == {
        "test_fake.py::test_pass": "PASS", "test_fake.py::test_fail": "FAIL",
        "test_fake.py::test_hang": "TIMEOUT"}
    assert runs["test_fake.py::test_hang"]["wall_s"] >= 0.5
    # test_fail passed: its FAIL was what it wanted, and must not read as a failure.
    shown = {"test_fake.py::test_pass": "PASS", "test_fake.py::test_fail": "expected",
             "test_fake.py::test_hang": "TIMEOUT"}
    for nodeid, run in runs.items():
        assert Path(run["log"]) == session.logs / f"{log_name(nodeid)}.log"
        assert Path(run["log"]).exists()
        assert f"{run['wall_s']:7.2f}s  {shown[nodeid]:<15}  {nodeid}" in out
    assert "expected: 1 runs did not PASS on purpose" in out, out
    assert "expected PASS, got TIMEOUT" in out     # expect_pass's message reached the report


@pytest.mark.parametrize("xdist", [False, True])
def test_one_boot_serves_a_group(session, xdist):
    """run_alone_if_not_passed: one QEMU for the whole group, even across xdist workers;
    a test that fails there runs alone, and passing alone is reported as a failure."""
    done = session(SHARED_TESTS, *xdist_args(xdist))
    out = done.stdout.str()
    done.assert_outcomes(passed=2, failed=1)
    assert "fake.b passes alone but not in one boot with the rest of fake.multi " \
        "(fake.b FAIL)" in out, out
    runs = json.loads((session.logs / "timings.json").read_text())["runs"]
    assert sorted(r["selection"] for r in runs) == ["fake.b", "fake.multi"], runs
    assert not list((session.logs / "shared").glob("*.pickle")), "the session left its files"


@pytest.mark.parametrize("name, boot", [("other.iso", "-boot d -cdrom"), ("other.elf", "-kernel")])
def test_keos_image_option_reaches_qemu(session, pytester, name, boot):
    """--keos-image picks the image the `keos` fixture boots (an existing file: no make),
    an ISO through GRUB, anything else directly."""
    image = pytester.path / name
    image.write_bytes(b"")
    done = session(
        "FAKE_QEMU = {fake!r}\n"
        "def test_image(keos):\n"
        "    r = keos('fake.echo', qemu_cmd=FAKE_QEMU)\n"
        f"    assert '{boot} {image}' in ' '.join(r.cmd), r.cmd\n"
        "    keos.record('answer', 42, 'units')\n", "--keos-image", str(image))
    out = done.stdout.str()
    assert done.ret == pytest.ExitCode.OK, out
    assert "KeOS measurements" in out and "answer" in out, out
    timings = json.loads((session.logs / "timings.json").read_text())
    assert timings["metrics"][0]["value"] == 42
    assert timings["runs"][0]["image"] == str(image)


def test_a_marker_missing_from_pytest_ini_is_refused(session):
    """The nested sessions really read grader/pytest.ini's markers and --strict-markers:
    an undeclared marker is an error there, as here."""
    done = session("import pytest\n@pytest.mark.no_such_marker\ndef test_x():\n    pass\n")
    assert done.ret == pytest.ExitCode.INTERRUPTED, done.stdout.str()
    done.stdout.fnmatch_lines(["*'no_such_marker' not found in `markers` configuration*"])


def test_markers_are_declared_in_pytest_ini_only():
    """One source for the markers: nothing in grader/ adds one at run time."""
    adders = [str(p.relative_to(GRADER)) for p in GRADER.rglob("*.py")
              if "addinivalue_line(\"markers\"" in p.read_text().replace("\n", "")
              .replace(" ", "")]
    assert adders == [], f"markers declared outside pytest.ini: {adders}"

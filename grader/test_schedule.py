"""Longest tests first across pytest-xdist workers (harness/schedule.py)."""

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import schedule

GRADER = Path(__file__).resolve().parent
# Long tests (over schedule.SHORT_S) written after the short ones: only their times in
# pytest's cache, from an earlier run, can bring them to the front. They take SLEEP_S.
SECONDS = {"long_a": 1.0, "long_b": 0.8, "long_c": 0.7, "long_d": 0.6}
SLEEP_S = 0.1
TESTS = "import time\n\n" + "".join(f"def test_short_{k}():\n    pass\n\n" for k in range(12)) \
    + "".join(f"def test_{name}():\n    time.sleep({SLEEP_S})\n\n" for name in SECONDS)


def item(nodeid, marker=None):
    return SimpleNamespace(nodeid=nodeid,
                           get_closest_marker=lambda name: name if name == marker else None)


def test_longest_first_by_last_time_then_markers():
    items = [item("a"), item("b", marker="course"), item("c"), item("d", marker="kernel"),
             item("e")]
    ordered, times = schedule.longest_first(items, {"c": 30.0, "e": 0.2})
    assert [i.nodeid for i in ordered] == ["c", "b", "d", "a", "e"], times
    assert times["b"] == schedule.GUESS_S["course"] and times["a"] == schedule.DEFAULT_GUESS_S


def test_cached_times_come_before_the_shipped_ones(tmp_path, monkeypatch):
    hint = tmp_path / "durations.json"
    hint.write_text(json.dumps({"a": 5.0, "b": 1.0, "c": "not a time"}))
    monkeypatch.setattr(schedule, "HINT", hint)
    cache = SimpleNamespace(get=lambda key, default: {"b": 2.0} if key == schedule.CACHE_KEY
                            else default)
    assert schedule.load(SimpleNamespace(cache=cache)) == {"a": 5.0, "b": 2.0}
    assert schedule.load(SimpleNamespace(cache=None)) == {"a": 5.0, "b": 1.0}
    monkeypatch.setattr(schedule, "HINT", tmp_path / "none.json")
    assert schedule.load(SimpleNamespace(cache=None)) == {}


def test_the_shipped_times_are_times():
    shipped = json.loads(schedule.HINT.read_text())
    assert shipped and all(isinstance(v, (int, float)) and v >= schedule.SHORT_S
                           for v in shipped.values()), shipped


def run_session(folder):
    """pytest -n 2 -v on `folder` with the plugin; {worker: [test names in the order it
    ran them]}."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-v", str(folder)],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    ran = {}
    for worker, name in re.findall(r"^\[(gw\d)\] .*?PASSED \S*::test_(\w+)", done.stdout, re.M):
        ran.setdefault(worker, []).append(name)
    assert sum(map(len, ran.values())) == 12 + len(SECONDS), done.stdout
    return ran


def test_workers_start_with_the_longest_tests(tmp_path):
    """A session that knows the times of an earlier one (pytest's cache): each worker
    starts with one of the two longest tests (xdist's own scheduler gives the first chunk,
    all the long tests, to one worker); and it keeps its own times for the next."""
    pytest.importorskip("xdist")
    (tmp_path / "pytest.ini").write_text("[pytest]\ncache_dir = .cache\n")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(GRADER)!r})\npytest_plugins = ['harness.plugin']\n")
    (tmp_path / "test_sleep.py").write_text(TESTS)
    cache = tmp_path / ".cache" / "v" / schedule.CACHE_KEY
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({f"test_sleep.py::test_{n}": s for n, s in SECONDS.items()}))
    ran = run_session(tmp_path)
    assert sorted(tests[0] for tests in ran.values()) == ["long_a", "long_b"], ran
    kept = json.loads(cache.read_text())
    assert all(SLEEP_S <= kept[f"test_sleep.py::test_{n}"] < s for n, s in SECONDS.items()), \
        f"this session's times were not kept: {kept}"

"""Longest tests first across pytest-xdist workers, so that the workers end together.

xdist's `--dist load` hands each worker a quarter of its share of the collection, in
collection order: the slow tests of one file (the mutants, the course batch) land on
one worker while the other runs out of work. Here every worker orders its collection
longest first (each test's time in the last run that ran it, kept in pytest's cache;
else its time in grader/durations.json, the long tests of one make check, kept with the
course so that a fresh clone starts in a good order; else a guess from its markers), and
the scheduler gives the next test in that order to whichever worker has room: list
scheduling, QUEUED tests on each worker (a worker starts a test once it knows the next).
The short tests keep their collection order among themselves, so that a file's tests
still mostly run one after the other.

Only `--dist load` (what `-n N` means) is replaced; `--dist loadgroup` and the others
are xdist's own.
"""

import configparser
import json
import subprocess
import sys
from pathlib import Path

SHORT_S = 0.5           # shorter tests keep their collection order, after the long ones
QUEUED = 2              # tests queued on each worker: the one running and the next
# A test's estimated seconds when it was never timed: by its first marker found here.
GUESS_S = {"course": 10.0, "mutants": 2.0, "kernel": 1.0}
DEFAULT_GUESS_S = 0.1
CACHE_KEY = "keos/durations"     # in pytest's cache (grader/pytest.ini: build/.pytest_cache)
GRADER = Path(__file__).resolve().parents[1]
# The times a fresh clone starts from (no cache yet). Without them every course test is
# guessed alike, and both workers began with a test of the course batch: one built the
# batch while the other waited 10 s for it. `python3 grader/harness/schedule.py` writes
# it again from the last run's times (its tests of SHORT_S or more).
HINT = GRADER / "durations.json"


def seconds_in(data):
    """The {node id: seconds} entries of `data` (anything else is left out)."""
    return {k: v for k, v in data.items() if isinstance(v, (int, float))} \
        if isinstance(data, dict) else {}


def load(config):
    """{node id: seconds} from the last runs (pytest's cache), over the shipped hint."""
    cache = getattr(config, "cache", None)         # None with -p no:cacheprovider
    hint = json.loads(HINT.read_text()) if HINT.is_file() else {}
    return {**seconds_in(hint), **seconds_in(cache.get(CACHE_KEY, {}) if cache else {})}


def save(config, seconds):
    """Merge this run's {node id: seconds} into the cache: a test not run this time
    keeps its old time."""
    cache = getattr(config, "cache", None)
    if cache and seconds:
        cache.set(CACHE_KEY, {**load(config), **{k: round(v, 3) for k, v in seconds.items()}})


def estimate(item, known):
    """Seconds `item` is expected to take: its last time, else a guess from its markers."""
    if item.nodeid in known:
        return known[item.nodeid]
    for name, seconds in GUESS_S.items():
        if item.get_closest_marker(name):
            return seconds
    return DEFAULT_GUESS_S


def longest_first(items, known):
    """`items` reordered: the long ones, longest first, then the short ones as collected.
    The order every worker collects (xdist checks that all agree)."""
    times = {item.nodeid: estimate(item, known) for item in items}
    long = sorted((i for i in items if times[i.nodeid] >= SHORT_S),
                  key=lambda i: -times[i.nodeid])
    return long + [i for i in items if times[i.nodeid] < SHORT_S], times


def make_scheduler(config, log):
    """The xdist scheduler for the controller, which sees node ids, not markers: it keeps
    the order the workers collected (longest_first) and sends one test at a time."""
    from xdist.scheduler import LoadScheduling

    class LongestFirst(LoadScheduling):
        def schedule(self):
            assert self.collection_is_completed
            if self.collection is not None:     # a node added later: give it work
                for node in self.nodes:
                    self.check_schedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(self.node2collection.values())[0]
            self.pending[:] = range(len(self.collection))
            for _ in range(QUEUED):             # round robin: the longest ones spread out
                for node in self.nodes:
                    self._send_tests(node, 1)
            if not self.pending:
                for node in self.nodes:
                    node.shutdown()

        def check_schedule(self, node, duration=0):
            if node.shutting_down:
                return
            if not self.pending:
                node.shutdown()
                return
            while self.pending and len(self.node2pending[node]) < QUEUED:
                self._send_tests(node, 1)

    return LongestFirst(config, log)


def collected():
    """The node ids pytest collects now (the cache also keeps tests gone since)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", str(GRADER / "pytest.ini"),
                           "--collect-only", "-q", "-p", "no:xdist", str(GRADER)],
                          cwd=GRADER.parent, capture_output=True, text=True, check=True)
    return {line for line in done.stdout.splitlines() if "::" in line}


def cache_file():
    """Where pytest keeps CACHE_KEY: under grader/pytest.ini's cache_dir."""
    ini = configparser.ConfigParser()
    ini.read(GRADER / "pytest.ini")
    return GRADER / ini["pytest"]["cache_dir"] / "v" / CACHE_KEY


def write_hint():
    """grader/durations.json from the last runs' times: the tests of SHORT_S or more."""
    times = seconds_in(json.loads(cache_file().read_text()))
    now = collected()
    long = {k: v for k, v in sorted(times.items()) if v >= SHORT_S and k in now}
    HINT.write_text(json.dumps(long, indent=0) + "\n")
    print(f"{HINT}: {len(long)} tests of {SHORT_S} s or more, of {len(now)} collected")


def leave_out(paths):
    """grader/durations.json without the tests of the files under `paths` (relative to the
    repository, as tools/mkhandout.sh names what a handout leaves out)."""
    times = json.loads(HINT.read_text())
    kept = {k: v for k, v in times.items() if not ("grader/" + k).startswith(tuple(paths))}
    HINT.write_text(json.dumps(kept, indent=0) + "\n")


if __name__ == "__main__":
    # schedule.py: write the hint again; schedule.py --leave-out PATH...: drop their tests.
    if sys.argv[1:2] == ["--leave-out"]:
        leave_out(sys.argv[2:])
    else:
        write_hint()

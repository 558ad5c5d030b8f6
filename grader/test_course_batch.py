"""Running a course, with kernels: a batch of synthesized submissions graded in one
command, Gradescope's run_autograder on a local /autograder, and Ctrl-C in the middle of a
batch. Marker `course` (slow: each graded submission boots 20 QEMUs); they grade the
course as committed (official.py exports HEAD), so commit kernel changes first.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

import batch
import gradescope
import official
from harness import qemu
from harness.fakes import interruptible
from harness.paths import GRADER, ROOT
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE
from test_course import (ITEMS, STUDENT_FILES, check_gradescope_results, stubs, tarball,
                         write_tree)

try:
    import test_grader_mutants as mutants
except ImportError:         # the student handout has neither the mutants nor solution/
    mutants = None

JOBS = 2
# A mutant whose knock-on effects are deterministic (no "only when two vCPUs race"). Its
# score (64) lies between the second solution's and the skeleton's, so a batch that
# swapped two graded submissions' results would show. Its submission is a whole tree whose
# tests and rubric are edited to hand out points (EDITED): it must still get the score of
# the mutant's own kernel. (A second mutant, mmio_overflow at 97, showed nothing those
# three do not; nor did a separate row for the edited tree: each cost a full grade and a
# build.)
MUTANTS = ("pager_no_offset",)
EDITED = "pager_no_offset"
# Their scores come from grading each mutant's own kernel (test_grader_mutants' build of
# the whole repository with SOLUTION=1), never from a number written here.
EDITED_TEST = "project3/tests/pager_tests.c"
# The submission that earns every point is the second solution, not the reference: its
# official grade is this batch's row (the reference's is run_autograder's below), and a
# grader tuned to the reference would show here.
SECOND = GRADER / "policy_fixtures" / "second_solution"
SHARED = qemu.BUILD / "course-test"     # what the xdist workers of one run share
# Generous timeouts: make check runs these beside other QEMUs, and a TIMEOUT from load
# would make a mutant's score differ between two runs. A hang is still a TIMEOUT.
TIMEOUT_SCALE = str(max(3.0, float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))))

pytestmark = [pytest.mark.kernel, pytest.mark.course,
              pytest.mark.skipif(not SOLUTION_DIR.is_dir(), reason="needs solution/")]


def reference():
    return {f: (ROOT / "solution" / f).read_bytes() for f in STUDENT_FILES}


def second_solution():
    """The policy's second, independently written solution (grader/policy_fixtures/)."""
    return {f: (SECOND / Path(f).name).read_bytes() for f in STUDENT_FILES}


def mutant(name):
    return next(m for m in mutants.MUTANTS if m.name == name)


def mutated_files(name):
    """The reference's student files with the mutant's sed script applied to its target."""
    m = mutant(name)
    files = reference()
    student = m.target.removeprefix("solution/")
    done = subprocess.run(["sed", "-f", str(m.script)], input=files[student],
                          capture_output=True, check=True)
    assert done.stdout != files[student], f"{m.script} changed nothing"
    files[student] = done.stdout
    return files


def always_pass(source):
    """The test file with `return;` opening every KTEST body: every test in it passes."""
    out, lines = [], source.decode().splitlines(keepends=True)
    for k, line in enumerate(lines):
        out.append(line)
        if line.startswith("{") and k and lines[k - 1].startswith("KTEST("):
            out.append("\treturn; /* a student's edit: the test always passes */\n")
    assert len(out) > len(lines)
    return "".join(out).encode()


def synthesize(tmp):
    """The submissions of the issue's check, in tmp/subs; returns {student: what}."""
    subs = tmp / "subs"
    subs.mkdir()
    tarball(subs / "second_solution.tar.gz", second_solution())
    write_tree(subs / "skeleton", stubs())
    for name in MUTANTS:
        if name != EDITED:
            tarball(subs / f"{name}.tar.gz", mutated_files(name))
    # A whole tree: the mutated pager.c, plus tests and rubric edited to hand out points.
    edited = dict(mutated_files(EDITED))
    edited[EDITED_TEST] = always_pass((ROOT / EDITED_TEST).read_bytes())
    edited["grader/rubric.toml"] = (ROOT / "grader/rubric.toml").read_bytes().replace(
        b"points = 12\ntimeout = 60", b"points = 12\ntimeout = 600")
    write_tree(subs / EDITED, edited)
    good = tarball(tmp / "good.tar.gz", reference()).read_bytes()
    (subs / "broken.tar.gz").write_bytes(good[:len(good) // 3])
    tarball(subs / "no_compile.tar.gz", {**reference(), "project3/npt.c": b"int broken(\n"})
    tarball(subs / "dotdot.tar.gz", {**reference(), "../keos/main.c": b"int evil;\n"})
    tarball(subs / "includes_solution.tar.gz", {
        **reference(), "project3/pager.c": b'#include "../solution/project3/pager.c"\n'})
    return subs


def shared(config, name, create, key=None):
    """SHARED/name, made once per pytest run by create(path) -> data, whichever xdist
    worker comes first; the others wait on the lock and read the data back (JSON). With a
    `key` (a string naming everything the folder is made from), a folder an earlier run
    made for the same key is kept."""
    folder = SHARED / name
    SHARED.mkdir(parents=True, exist_ok=True)
    with open(SHARED / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = folder / ".run.json"
        if stamp.exists():
            kept = json.loads(stamp.read_text())
            if kept["run"] == config.keos_run_id or (key and kept.get("key") == key):
                return folder, kept["data"]
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        data = create(folder)
        stamp.write_text(json.dumps({"run": config.keos_run_id, "key": key, "data": data}))
    return folder, data


@pytest.fixture(scope="module")
def batch_run(request, keos_build):
    """The synthesized submissions graded by one batch.py command:
    (submissions folder, results folder, {student: grades.json entry}, wall seconds)."""
    keos_build.ensure(SOLUTION_IMAGE)

    def create(folder):
        subs = synthesize(folder)
        start = time.monotonic()
        done = subprocess.run([sys.executable, str(GRADER / "batch.py"), str(subs), "-o",
                               str(folder / "out"), "-j", str(JOBS),
                               "--timeout-scale", TIMEOUT_SCALE],
                              capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, done.stdout + done.stderr
        return time.monotonic() - start
    folder, took = shared(request.config, "batch", create)
    out = folder / "out"
    grades = {g["student"]: g for g in json.loads((out / "grades.json").read_text())}
    return folder / "subs", out, grades, took


@pytest.fixture(scope="module")
def mutant_scores(request, keos_build):
    """{mutant: score} from grading each mutant's own kernel with grade.py: the tests its
    sed script names ("# expect:", "# may-fail:") graded, every other rubric test earning
    its points (that they pass on the mutant's kernel is test_grader_mutants.py's
    test_mutant_breaks_nothing_else; the batch's rows are held to it test by test)."""
    keos_build.ensure(SOLUTION_IMAGE)

    def create(folder):
        digest = mutants.tree_digest()
        scores = {}
        for name in MUTANTS:
            image, _, error = mutants.build(mutant(name), digest)
            assert error is None, error
            results = folder / f"{name}.json"
            done = subprocess.run([sys.executable, str(GRADER / "grade.py"), "--image", str(image),
                                   "--results", str(results), "-j", str(JOBS), "-q",
                                   "--only", ",".join(touched(name)),
                                   "--timeout-scale", TIMEOUT_SCALE],
                                  capture_output=True, text=True, timeout=1200)
            assert done.returncode == 0, done.stdout + done.stderr
            graded = json.loads(results.read_text())["tests"]
            assert sorted(t["name"] for t in graded) == sorted(touched(name)), graded
            scores[name] = sum(t["points"] for t in graded) + \
                sum(i.points for i in ITEMS if i.name not in touched(name))
        return scores
    return shared(request.config, "mutant-scores", create)[1]


def touched(name):
    """The rubric tests a mutant fails or may fail."""
    m = mutant(name)
    return m.expect + m.may_fail


def test_batch_grades_second_solution_and_skeleton(batch_run, keos):
    _, out, grades, took = batch_run
    keos.record(f"batch of {len(grades)} synthesized submissions, -j {JOBS}", round(took, 1),
                "s")
    got = grades["second_solution"]
    assert (got["status"], got["score"]) == ("GRADED", 100), got
    assert (grades["skeleton"]["status"], grades["skeleton"]["score"]) == ("GRADED", 0)
    assert all(t["verdict"] == "NOT-IMPLEMENTED" for t in grades["skeleton"]["tests"].values())
    for student in grades:              # a log folder per student
        assert (out / student / "result.json").is_file()
    assert (out / "second_solution" / "build.log").is_file()
    assert list((out / "second_solution" / "qemu").rglob("*.log")), "no QEMU logs kept"
    header, *rows = (out / "grades.csv").read_text().splitlines()
    assert header.split(",") == ["student", "score", *[i.name for i in ITEMS], "status",
                                 "wall_s"]
    assert len(rows) == len(grades) == len(list(batch_run[0].iterdir()))


@pytest.mark.parametrize("name", MUTANTS)
def test_batch_gives_each_mutant_its_own_score(batch_run, mutant_scores, name):
    grades = batch_run[2]
    assert mutant_scores[name] < 100, f"{name} was not caught by the rubric at all"
    got = grades[name]
    assert (got["status"], got["score"]) == ("GRADED", mutant_scores[name]), got
    for test in mutant(name).expect:
        assert got["tests"][test]["points"] == 0, (test, got["tests"][test])
    for item in ITEMS:
        if item.name not in touched(name):
            assert got["tests"][item.name]["points"] == item.points, \
                (item.name, got["tests"][item.name])


def test_edited_tests_and_rubric_have_no_effect(batch_run, mutant_scores):
    got = batch_run[2][EDITED]
    assert got["status"] == "GRADED"
    assert got["score"] == mutant_scores[EDITED], got
    assert EDITED_TEST in got["ignored"] and "grader/rubric.toml" in got["ignored"], got
    assert [f["path"] for f in got["files"]] == STUDENT_FILES


def test_the_test_edit_would_count_if_the_tree_were_trusted(batch_run, tmp_path):
    """The check above can fail: built with its own edited test, the same submission
    passes the tests the mutant fails."""
    subs = batch_run[0]
    key = official.git("rev-parse", "HEAD").decode().strip()
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "build" / "official" / key, tree, symlinks=True)
    for path in (subs / EDITED).rglob("*"):
        if path.is_file():
            (tree / path.relative_to(subs / EDITED)).unlink(missing_ok=True)
            shutil.copy(path, tree / path.relative_to(subs / EDITED))
    made = subprocess.run(["make", "-s"], cwd=tree, env=official.make_env(),
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    caught = mutant(EDITED).expect
    points = sum(i.points for i in ITEMS if i.name in caught)
    done = subprocess.run([sys.executable, str(tree / "grader" / "grade.py"),
                           *official.kernel_image(tree), "--only", ",".join(caught),
                           "--timeout-scale", TIMEOUT_SCALE],
                          capture_output=True, text=True, timeout=600,
                          env=dict(official.make_env(), KEOS_LOG_DIR=str(tmp_path / "logs")))
    assert done.returncode == 0 and f"Score: {points}/{points}" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("student, verdict, says", [
    ("broken", official.MALFORMED, "damaged"),
    ("no_compile", official.BUILD_ERROR, "project3/npt.c:1"),
    ("dotdot", official.UNSAFE, "'../keos/main.c' escapes"),
    # The policy refuses the include before the build (and the course copy has no
    # solution/ either, so the build would fail too).
    ("includes_solution", official.POLICY, "solution/project3/pager.c"),
])
def test_batch_gives_bad_submissions_a_verdict(batch_run, student, verdict, says):
    got = batch_run[2][student]
    assert (got["status"], got["score"]) == (verdict, 0), got
    assert says in got["message"], got["message"]
    if verdict == official.BUILD_ERROR:
        assert "error" in got["message"], got["message"]


def test_batch_resumes_without_grading_again(batch_run, tmp_path):
    subs, out, grades, _ = batch_run
    shutil.copytree(subs, tmp_path / "subs", symlinks=True)
    shutil.copytree(out, tmp_path / "out", symlinks=True)
    for g in grades.values():           # the copies are the same submissions
        kept = tmp_path / "out" / g["student"] / "result.json"
        result = json.loads(kept.read_text())
        result["submission"] = str(tmp_path / "subs" / Path(result["submission"]).name)
        kept.write_text(json.dumps(result))
    (tmp_path / "subs" / "broken.tar.gz").write_bytes(b"still not an archive")  # changed
    done = subprocess.run([sys.executable, str(GRADER / "batch.py"), str(tmp_path / "subs"),
                           "-o", str(tmp_path / "out"), "-j", str(JOBS)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(grades) - 1} already graded, 1 to grade" in done.stderr, done.stderr
    again = {g["student"]: g for g in json.loads((tmp_path / "out" / "grades.json")
                                                 .read_text())}
    assert again["broken"]["message"] != grades["broken"]["message"]
    assert again["second_solution"]["score"] == 100 and again["second_solution"]["wall_s"] == \
        grades["second_solution"]["wall_s"]


# ---- Gradescope: run_autograder against a local /autograder ---------------------------

def autograder_key():
    """What `make gradescope`'s zip is made of: the commit, and what comes from this
    tree: the scripts, the export (official.py) and its list of files left out."""
    made_of = (gradescope.SETUP_SH + gradescope.RUN_AUTOGRADER).encode() + \
        (GRADER / "official.py").read_bytes() + (ROOT / "tools" / "mkhandout.sh").read_bytes()
    commit = official.git("rev-parse", "--verify", "HEAD^{commit}").decode().strip()
    return f"{commit} {hashlib.sha1(made_of).hexdigest()}"


@pytest.fixture(scope="module")
def autograder(request):
    """A folder laid out like Gradescope's /autograder, from `make gradescope`'s zip, shared
    by the xdist workers; the lock file serializes the runs in it. Kept for the next
    run while the zip would be the same: the course it builds (in source/cache, on the
    first submission) is built once per course version, as on Gradescope."""
    def create(root):
        zip_path, _ = gradescope.make_zip(root / "autograder.zip")
        with zipfile.ZipFile(zip_path) as z:     # as unzip does it: with the modes
            for info in z.infolist():
                z.extract(info, root / "source")
                (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        return None
    return shared(request.config, "autograder", create, key=autograder_key())[0]


def run_autograder(root, files):
    with open(root.parent / ".autograder-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.rmtree(root / "results", ignore_errors=True)
        write_tree(root / "submission", files)
        done = subprocess.run(["bash", str(root / "run_autograder")], cwd=root,
                              env=dict(os.environ, AUTOGRADER_ROOT=str(root),
                                       KEOS_TIMEOUT_SCALE=TIMEOUT_SCALE),
                              capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.parametrize("what, files, score", [
    ("reference", reference, 100.0),
    ("skeleton", stubs, 0.0),
    ("no_compile", lambda: {**reference(), "project3/mmio.c": b"int broken(\n"}, 0.0),
])
def test_run_autograder_writes_valid_results(autograder, what, files, score):
    data = run_autograder(autograder, files())
    assert check_gradescope_results(data) == score, data["output"]
    if what == "skeleton":
        assert all(t["output"].startswith("NOT-IMPLEMENTED") for t in data["tests"])
        assert "End of the serial log" in data["tests"][0]["output"]
    if what == "no_compile":
        assert data["output"].startswith("BUILD-ERROR") and "mmio.c:1" in data["output"]


# ---- Ctrl-C in the middle of a batch -----------------------------------------------------

def tagged_processes(tag):
    """{pid: (start time, program)} of the processes whose environment carries the tag:
    the batch and everything it started, QEMUs included (read from /proc, never killed)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"KEOS_COURSE_TEST={tag}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                program = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        found[int(entry)] = (qemu.proc_start_time(int(entry)), program)
    return found


def test_ctrl_c_leaves_no_qemu_and_keeps_results(tmp_path, keos):
    subs = tmp_path / "subs"
    # s00 does not compile: a result is kept within seconds, while s01's QEMUs run. s01
    # hangs (the pager's loader loop): its QEMUs live until the watchdog's budget, so
    # Ctrl-C lands in the middle of a run (a reference run lasts 0.1 s).
    write_tree(subs / "s00", {**reference(), "project3/npt.c": b"int broken(\n"})
    write_tree(subs / "s01", mutated_files("pager_loader_loop"))
    for k in range(2, 12):
        write_tree(subs / f"s{k:02}", reference() if k % 2 else stubs())
    tag = uuid.uuid4().hex
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(GRADER / "batch.py"), str(subs), "-o",
                             str(out), "-j", str(JOBS)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible,
                            env=dict(os.environ, KEOS_COURSE_TEST=tag))
    seen = {}
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            now = tagged_processes(tag)
            seen.update(now)
            running = [p for p, (_, prog) in now.items() if "qemu-system" in prog]
            # Mid-batch: a QEMU running and a result already kept. (Not JOBS QEMUs at
            # once: with short runs and builds in between, a loaded machine may never show
            # that between two looks, and the batch ran to its end. Every process of the
            # batch, the other job's included, must be gone after Ctrl-C: checked below.)
            if running and list(out.glob("*/result.json")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        qemus = {p: s for p, s in seen.items() if "qemu-system" in s[1]}
        assert qemus, "no QEMU of the batch was seen"
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        stopped = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    keos.record("batch stopped after Ctrl-C", round(stopped, 1), "s")
    assert proc.returncode == 130, output
    assert "interrupted" in output and "run the same command again" in output, output
    # Every child stops on the SIGINT itself: none waits out the grace before SIGKILL.
    assert stopped < batch.STOP_GRACE_S, \
        f"the batch took {stopped:.1f} s to stop: a child ignored Ctrl-C\n{output}"
    # A QEMU killed with its parent (PR_SET_PDEATHSIG) is a zombie until init reaps it.
    reaped_by = time.monotonic() + 5
    while (left := [(p, s[1], qemu.proc_state(p)) for p, s in qemus.items()
                    if qemu.is_alive(p, s[0])]) and time.monotonic() < reaped_by:
        time.sleep(0.1)
    assert not left, f"QEMUs outlived Ctrl-C (pid, program, state): {left}"
    others = {p: s for p, s in tagged_processes(tag).items()}
    assert not others, f"processes of the batch still running: {others}"
    kept = list(out.glob("*/result.json"))
    assert kept and not list(out.glob("*/*.tmp")), "finished results not kept"
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(kept) < 13, rows
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())

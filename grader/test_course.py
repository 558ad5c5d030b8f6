"""Running a course, without booting a kernel: what a student may change (rubric.toml),
`make submit`, official.py's verdicts on bad submissions, grade.py's --results/--junit,
the Gradescope results.json and zip, and the Classroom workflow against the rubric.
The kernel-booting side (batch grading, run_autograder, Ctrl-C) is test_course_batch.py.
"""

import hashlib
import io
import json
import os
import shlex
import stat
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import classroom
import gradescope
import official
from harness import report, rubric
from harness.paths import GRADER, ROOT

# official.py exports the course with `git archive`: a copy without .git cannot.
pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists(),
                                reason="not a git checkout: the course is exported with git")
STUDENT_FILES = rubric.student_files()
ITEMS = rubric.load()


def run(*cmd, cwd=ROOT, env=None, timeout=120):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def tarball(path, members):
    """members: {name: bytes} for files, {name: ("symlink"|"hardlink", target)} for links."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type = tarfile.SYMTYPE if data[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def write_tree(folder, files):
    """files: {relative name: bytes}, written under folder (which is returned)."""
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def stubs():
    return {f: (ROOT / f).read_bytes() for f in STUDENT_FILES}


# ---- 1. what a student may change --------------------------------------------------------

def test_student_files_are_the_project3_sources():
    assert STUDENT_FILES == ["project3/npt.c", "project3/mmio.c", "project3/pager.c"]
    assert sorted(STUDENT_FILES) == sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "project3").glob("*.c"))


@pytest.mark.parametrize("files, why", [
    ('["../keos/main.c"]', "not a plain relative path"),
    ('["/etc/passwd"]', "not a plain relative path"),
    ('["project3/./npt.c"]', "not a plain relative path"),
    ('["a.c", "a.c"]', "listed twice"),
    ("[]", "must be a list"),
    ('"project3/npt.c"', "must be a list"),
])
def test_student_files_rejects_bad_entries(tmp_path, files, why):
    bad = tmp_path / "rubric.toml"
    bad.write_text(f"[submission]\nstudent_files = {files}\n")
    with pytest.raises(rubric.RubricError, match=why):
        rubric.student_files(bad)


# ---- 2. make submit ---------------------------------------------------------------------

@pytest.fixture
def student_repo(tmp_path):
    """A student's repository: the handout (HEAD without solution/) as its first commit."""
    repo = tmp_path / "repo"
    official.export_course(official.git("rev-parse", "HEAD").decode().strip(), repo)
    git = ["git", "-c", "user.name=Kim", "-c", "user.email=kim@example.com"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "handout"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    return repo


def make_submit(repo, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return run("make", "-s", "submit", *args, cwd=repo, env=env)


def test_submit_refuses_the_untouched_stubs(student_repo):
    done = make_submit(student_repo)
    assert done.returncode != 0, done.stdout
    assert "none of project3/npt.c, project3/mmio.c, project3/pager.c differs" in done.stderr
    assert "FORCE=1" in done.stderr and "Traceback" not in done.stderr
    assert not (student_repo / "build" / "submit").exists()
    forced = make_submit(student_repo, "FORCE=1")
    assert forced.returncode == 0, forced.stderr
    assert len(list((student_repo / "build" / "submit").glob("*.tar.gz"))) == 1


def test_submit_packs_the_student_files_and_names_other_changes(student_repo):
    (student_repo / "project3" / "pager.c").write_bytes((ROOT / "solution/project3/pager.c")
                                                        .read_bytes() if (ROOT / "solution")
                                                        .is_dir() else b"/* mine */\n")
    with open(student_repo / "project3" / "tests" / "pager_tests.c", "a") as f:
        f.write("/* an edit that must not count */\n")
    done = make_submit(student_repo)
    assert done.returncode == 0, done.stderr
    assert "project3/tests/pager_tests.c" in done.stderr and "ignored" in done.stderr
    assert "project3/pager.c" not in done.stderr.split("ignored:")[1]
    [archive] = (student_repo / "build" / "submit").glob("project3-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        assert names == sorted(STUDENT_FILES + ["MANIFEST.json"])
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
        for f in manifest["files"]:
            data = tar.extractfile(f["path"]).read()
            assert f["sha256"] == hashlib.sha256(data).hexdigest()
            assert data == (student_repo / f["path"]).read_bytes()
    base = run("git", "rev-list", "--max-parents=0", "HEAD", cwd=student_repo).stdout.strip()
    assert manifest["base_commit"] == base and manifest["head_commit"] == base
    assert manifest["uncommitted_changes"] is True
    assert manifest["ignored_changes"] == ["project3/tests/pager_tests.c"]
    assert manifest["untouched"] == ["project3/npt.c", "project3/mmio.c"]
    # batch.py names the student after the archive
    import batch
    assert batch.student_name(archive) == archive.name.split("-")[1]


# ---- 3. official.py: verdicts before anything is built ------------------------------------

# name -> (verdict, what the message says)
BAD = {
    "empty.tar.gz": (official.MALFORMED, "is not a tar archive"),
    "garbage.tar.gz": (official.MALFORMED, "is not a tar archive"),
    "truncated.tar.gz": (official.MALFORMED, "damaged"),
    "nothing.tar.gz": (official.MALFORMED, "empty archive"),
    "dotdot.tar.gz": (official.UNSAFE, "'../../keos/main.c' escapes"),
    "absolute.tar.gz": (official.UNSAFE, "escapes the submission"),
    "symlink.tar.gz": (official.UNSAFE, "project3/npt.c is a link"),
    "hardlink.tar.gz": (official.UNSAFE, "is a link"),
    "big.tar.gz": (official.TOO_BIG, "project3/mmio.c is 1048577 bytes, over the limit"),
    "missing.tar.gz": (official.MISSING, "no project3/pager.c"),
    "linkdir": (official.UNSAFE, "project3/pager.c is a symlink"),
    "dirlink": (official.UNSAFE, "project3 is a symlink"),
    "nowhere": (official.MALFORMED, "does not exist"),
}


def make_bad_submissions(tmp):
    """The submissions of BAD, in tmp ("nowhere" is left absent)."""
    ok = stubs()
    for name, members in {
        "nothing.tar.gz": {},
        "dotdot.tar.gz": {**ok, "../../keos/main.c": b"int evil;\n"},
        "absolute.tar.gz": {**ok, "/tmp/evil.c": b"int evil;\n"},
        "symlink.tar.gz": {**ok, "project3/npt.c": ("symlink", "/etc/passwd")},
        "hardlink.tar.gz": {**ok, "x": ("hardlink", "project3/npt.c")},
        "big.tar.gz": {**ok, "project3/mmio.c": b"/" * (official.MAX_FILE + 1)},
        "missing.tar.gz": {f: d for f, d in ok.items() if not f.endswith("pager.c")},
    }.items():
        tarball(tmp / name, members)
    (tmp / "linkdir" / "project3").mkdir(parents=True)
    for f, data in ok.items():
        (tmp / "linkdir" / f).write_bytes(data)
    (tmp / "linkdir" / "project3" / "pager.c").unlink()
    (tmp / "linkdir" / "project3" / "pager.c").symlink_to("/etc/passwd")
    (tmp / "dirlink").mkdir()
    (tmp / "dirlink" / "project3").symlink_to(ROOT / "project3")
    (tmp / "empty.tar.gz").write_bytes(b"")
    (tmp / "garbage.tar.gz").write_bytes(b"this is not an archive\n" * 20)
    good = tarball(tmp / "good.tar.gz", ok).read_bytes()
    (tmp / "truncated.tar.gz").write_bytes(good[:len(good) // 2])
    (tmp / "good.tar.gz").unlink()
    return tmp


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    return make_bad_submissions(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", list(BAD))
def test_official_gives_bad_submissions_a_verdict(bad_dir, tmp_path, name):
    verdict, message = BAD[name]
    out = tmp_path / "result.json"
    done = run(sys.executable, GRADER / "official.py", bad_dir / name, "--out", out,
               "--logs", tmp_path / "logs", "--cache", tmp_path / "cache")
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["verdict"] == verdict, result
    assert message in result["message"], result["message"]
    assert done.stdout.startswith(f"{verdict}: "), done.stdout
    assert result["score"] == 0 and result["tests"] == []
    assert not (tmp_path / "cache").exists(), "refused, yet a course was built for it"


@pytest.mark.parametrize("layout", ["at its path", "one top-level folder", "flat"])
def test_official_finds_the_files_in_any_usual_layout(tmp_path, layout):
    names = {"at its path": lambda f: f, "one top-level folder": lambda f: f"kim-p3/{f}",
             "flat": lambda f: Path(f).name}[layout]
    members = {names(f): d for f, d in stubs().items()}
    members[names("project3/tests/pager_tests.c")] = b"/* edited */\n"
    sub = official.read_submission(tarball(tmp_path / "s.tar.gz", members), STUDENT_FILES)
    assert sub.files == stubs()
    assert official.ignored_files(sub, ROOT) == [
        "project3/tests/pager_tests.c" if layout != "flat" else "pager_tests.c"]
    folder = tmp_path / "dir"
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if layout != "one top-level folder":
        assert official.read_submission(folder, STUDENT_FILES).files == stubs()


def test_the_course_copy_has_no_solution(tmp_path):
    assert {"solution", "grader/mutants", "grader/policy_fixtures"} <= set(official.NOT_IN_COURSE)
    official.export_course(official.git("rev-parse", "HEAD").decode().strip(), tmp_path / "c")
    for path in official.NOT_IN_COURSE:
        assert not (tmp_path / "c" / path).exists(), path
    assert (tmp_path / "c" / "grader" / "official.py").is_file()
    tree = tmp_path / "d"
    official.export_course(ROOT, tree)         # a directory copy leaves out the same
    for path in official.NOT_IN_COURSE + official.NOT_COMPARED:
        assert not (tree / path).exists(), path


def test_python_caches_are_not_course_content(tmp_path):
    """What running Python leaves in a tree (bytecode, pytest's cache) is neither a change a
    submission makes nor part of a course copy or its key."""
    caches = {"grader/__pycache__/grade.cpython-311.pyc": b"\x00pyc",
              "tools/__pycache__/boot_time.cpython-311.pyc": b"\x00pyc",
              ".pytest_cache/v/cache/lastfailed": b"{}"}
    folder = write_tree(tmp_path / "sub", {**stubs(), **caches})
    sub = official.read_submission(folder, STUDENT_FILES)
    assert sub.files == stubs() and not set(sub.others) & set(caches), sorted(sub.others)
    tar = official.read_submission(tarball(tmp_path / "s.tar.gz", {**stubs(), **caches}),
                                   STUDENT_FILES)
    assert official.ignored_files(tar, ROOT) == []
    course = tmp_path / "course"
    official.export_course(ROOT, course)
    before = official.course_digest(course)
    write_tree(course, caches)
    assert official.course_digest(course) == before
    official.export_course(course, tmp_path / "copy")
    assert not [p for p in caches if (tmp_path / "copy" / p).exists()]


def test_first_errors_quotes_the_compiler():
    out = "  CC      a.c\n  CC      project3/npt.c\nproject3/npt.c:3:1: error: expected ';'\n" \
          "    3 | int x\n      | ^\nmake: *** [Makefile:59: x] Error 1\n"
    text = official.first_errors(out)
    assert text.splitlines()[0] == "  CC      a.c" and "npt.c:3:1: error" in text


# ---- 5. grade.py --results / --junit (on the fake QEMU) -----------------------------------

def test_grade_writes_results_and_junit(tmp_path):
    from harness.fakes import FAKE_QEMU as FAKE, FAKE_RUBRIC
    (tmp_path / "rubric.toml").write_text(FAKE_RUBRIC)
    env = dict(os.environ, KEOS_LOG_DIR=str(tmp_path / "logs"))
    done = run(sys.executable, GRADER / "grade.py", "--rubric", tmp_path / "rubric.toml",
               "--qemu", shlex.join(FAKE), "--results", tmp_path / "r.json",
               "--junit", tmp_path / "j.xml", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert (data["score"], data["max"]) == (50, 100) and data["wall_s"] > 0
    tests = {t["name"]: t for t in data["tests"]}
    assert list(tests) == ["fake.pass", "fake.fail", "fake.skip", "fake.notimpl", "fake.hang"]
    for t in data["tests"]:
        assert set(t) == {"name", "verdict", "points", "max", "wall_s", "failure", "log"}
        assert Path(t["log"]).is_file(), t
    assert tests["fake.pass"] == {**tests["fake.pass"], "verdict": "PASS", "points": 50,
                                  "max": 50, "failure": ""}
    assert tests["fake.fail"]["failure"].startswith("kev/npt.c:42: CHECK_EQ(")
    assert (tests["fake.hang"]["verdict"], tests["fake.hang"]["points"]) == ("TIMEOUT", 0)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "3", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases["fake.pass"]) == []
    assert cases["fake.fail"].find("failure").get("type") == "FAIL"
    assert "CHECK_EQ" in cases["fake.fail"].find("failure").get("message")
    assert cases["fake.skip"].find("skipped") is not None
    assert cases["fake.notimpl"].find("failure").get("type") == "NOT-IMPLEMENTED"


# ---- 6. Gradescope ----------------------------------------------------------------------

GRADESCOPE_TOP = {"score", "execution_time", "output", "visibility", "stdout_visibility",
                  "tests"}
GRADESCOPE_TEST = {"name", "number", "score", "max_score", "status", "output", "visibility"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def check_gradescope_results(data, items=ITEMS):
    """results.json field by field, as Gradescope's autograder specification documents it
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/). Returns the score."""
    assert set(data) == GRADESCOPE_TOP, sorted(data)
    assert isinstance(data["score"], float)
    assert isinstance(data["execution_time"], int) and data["execution_time"] >= 0
    assert isinstance(data["output"], str) and data["output"]
    assert data["visibility"] in GRADESCOPE_VISIBILITY
    assert data["stdout_visibility"] in GRADESCOPE_VISIBILITY
    assert [t["name"] for t in data["tests"]] == [i.name for i in items]
    numbers = [t["number"] for t in data["tests"]]
    assert len(set(numbers)) == len(numbers), numbers
    for t, item in zip(data["tests"], items):
        assert set(t) == GRADESCOPE_TEST, sorted(t)
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
        assert t["max_score"] == item.points and 0 <= t["score"] <= t["max_score"]
        assert t["status"] in ("passed", "failed")
        assert (t["status"] == "passed") == (t["score"] == t["max_score"]), t
        assert isinstance(t["output"], str) and t["output"]
        assert t["visibility"] in GRADESCOPE_VISIBILITY
        assert isinstance(t["number"], str)
    assert data["score"] == sum(t["score"] for t in data["tests"])
    return data["score"]


def fake_official(verdict="GRADED", fail=()):
    tests = [{"name": i.name, "verdict": "FAIL" if i.name in fail else "PASS",
              "points": 0 if i.name in fail else i.points, "max": i.points, "wall_s": 1.0,
              "failure": "x.c:1: CHECK(y)" if i.name in fail else "", "log": None}
             for i in ITEMS] if verdict == "GRADED" else []
    score = sum(t["points"] for t in tests)
    return {"verdict": verdict, "message": "the kernel does not compile:\nnpt.c:1: error: x"
            if verdict != "GRADED" else f"score {score}/100", "score": score, "tests": tests,
            "files": [{"path": "project3/npt.c", "sha256": "ab" * 32}],
            "ignored": ["keos/main.c"], "wall_s": 61.4}


@pytest.mark.parametrize("official_json, score", [
    (fake_official(), 100.0),
    (fake_official(fail=("npt.simple", "pager.stress")), 83.0),
    (fake_official("BUILD-ERROR"), 0.0),
    (None, 0.0),                                     # official.py never finished
])
def test_gradescope_results_follow_the_spec(official_json, score):
    data = gradescope.results(official_json, ITEMS, limit_s=480)
    assert check_gradescope_results(data) == score
    if official_json is None:
        assert "did not finish within 480 s" in data["output"]
        assert all("not graded: grading did not finish" in t["output"] for t in data["tests"])
    elif official_json["verdict"] == "BUILD-ERROR":
        assert data["output"].startswith("BUILD-ERROR: the kernel does not compile")
        assert all(t["status"] == "failed" for t in data["tests"])
    else:
        assert "keos/main.c" in data["output"]      # the ignored change is named
    assert [t["number"] for t in data["tests"]][:2] == ["1.1", "1.2"]
    pager_tests = sum(1 for item in ITEMS if item.name.startswith("pager."))
    assert data["tests"][-1]["number"] == f"3.{pager_tests}"   # part 3, its last test


def test_gradescope_zip_layout(tmp_path):
    out, commit = gradescope.make_zip(tmp_path / "autograder.zip")
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        for script in ("setup.sh", "run_autograder"):
            assert script in names                   # at the root, not in a folder
            mode = z.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, f"{script} is not executable"
            assert z.read(script).startswith(b"#!/bin/bash\n")
        assert "install-deps.sh" in z.read("setup.sh").decode()
        assert z.read("course/COURSE_COMMIT").decode().strip() == commit
        for script in ("course/tools/mksyms.sh", "course/tools/install-deps.sh"):
            assert z.getinfo(script).external_attr >> 16 & stat.S_IXUSR, script
        assert "course/grader/official.py" in names and "course/grader/rubric.toml" in names
        assert not [n for n in names for p in official.NOT_IN_COURSE
                    if n.startswith(f"course/{p}")], "the zip holds the solution"


# ---- 7. GitHub Classroom ------------------------------------------------------------------

def test_classroom_workflow_agrees_with_the_rubric():
    done = run(sys.executable, GRADER / "classroom.py", "--check")
    assert done.returncode == 0, "run grader/classroom.py: " + done.stdout
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(classroom.WORKFLOW.read_text())
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    graders = [s for s in steps if s.get("uses") == classroom.COMMAND_GRADER]
    assert [(s["with"]["test-name"], s["with"]["max-score"]) for s in graders] == \
        [(i.name, i.points) for i in ITEMS]
    assert sum(s["with"]["max-score"] for s in graders) == rubric.TOTAL
    [reporter] = [s for s in steps if s.get("uses") == classroom.REPORTER]
    ids = [s["id"] for s in graders]
    assert reporter["with"]["runners"].split(",") == ids
    assert set(reporter["env"]) == {f"{i.upper()}_RESULTS" for i in ids}
    assert all(f"steps.{i}.outputs.result" in reporter["env"][f"{i.upper()}_RESULTS"]
               for i in ids)


def test_classroom_check_notices_a_changed_rubric(tmp_path, monkeypatch):
    changed = [rubric.Item(i.name, i.points + (1 if k == 0 else -1 if k == 1 else 0),
                           i.timeout) for k, i in enumerate(ITEMS)]
    assert classroom.workflow(changed) != classroom.WORKFLOW.read_text()
    monkeypatch.setattr(classroom, "WORKFLOW", tmp_path / "classroom.yml")
    assert classroom.main(["--check"]) == 1         # missing
    assert classroom.main([]) == 0 and classroom.main(["--check"]) == 0


def test_classroom_step_reads_the_official_result(tmp_path, capsys):
    path = tmp_path / "official.json"
    report.write_json(path, fake_official(fail=("npt.simple",)))
    assert classroom.check_test(path, "npt.complicate") == 0
    assert classroom.check_test(path, "npt.simple") == 1
    assert "CHECK(y)" in capsys.readouterr().out
    report.write_json(path, fake_official("BUILD-ERROR"))
    assert classroom.check_test(path, "npt.complicate") == 1
    assert classroom.check_test(tmp_path / "absent.json", "npt.simple") == 1

#!/usr/bin/python3
"""The official grade of one submission, in a pristine copy of the course.

    grader/official.py build/submit/project3-kim-20261126-0930.tar.gz
    grader/official.py ~/subs/kim/ --out kim.json --logs logs/kim    # a directory or checkout
    grader/official.py SUB --course-commit v1.0          # the course as it was at that commit
    grader/official.py SUB --course /autograder/source/course        # a copy, not a checkout

A submission is a tarball (`make submit`, or any .tar[.gz|.bz2|.xz]), a directory or a git
checkout (its working tree). Only the rubric's student_files ([submission] in
grader/rubric.toml) are taken from it; each is looked up at its path, under the archive's
single top-level folder, or by its bare name (a flat upload). Everything else comes from
the course: `git archive` of a known commit (default HEAD) or a given directory, built
once per course version in --cache and copied for each submission. The kernel is built
there with `make` and graded by that copy's own grader/grade.py and rubric: a
submission's tests, rubric, kev/ or keos/ are never read.

The result (--out, JSON) has the verdict, the score, each test (harness/report.py), the
files taken with their SHA-256, and the files ignored (those that differ from the course).
Verdicts:
  GRADED        built and graded; the score is the rubric's
  MALFORMED     not an archive, an empty archive, or an unreadable directory
  MISSING       a student file is not in the submission
  UNSAFE        a path escaping the submission (../, absolute), a symlink, a device
  TOO-BIG       a student file over 1 MiB
  POLICY        the student files break the policy (harness/policy.py): sources before
                building, objects after
  BUILD-ERROR   the kernel does not compile: the compiler's first errors
  ERROR         the grader itself could not run (no QEMU, a broken course copy)
Exit status: 0 graded, 1 a verdict on the submission, 2 grader error, 130 interrupted.
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import policy, report, rubric     # noqa: E402  (after the path fix above)
from harness.paths import CACHES, MAKE_JOBS, ROOT, is_cache    # noqa: E402

MAX_FILE = 1 << 20            # bytes: a student file larger than this is refused
MAX_MEMBERS = 100_000         # archive members read before giving up
MAX_IGNORED_LISTED = 100      # ignored files named in the result (the rest are counted)
BUILD_ERROR_LINES = 20        # compiler lines quoted in a BUILD-ERROR
NOT_COMPARED = ("build", ".git")  # never listed as ignored: outputs and history


def handout_excludes(script=ROOT / "tools" / "mkhandout.sh"):
    """The paths tools/mkhandout.sh keeps out of the student handout (its EXCLUDE): the
    reference solution, the mutants quoting it, the policy's second solution."""
    m = re.search(r"^EXCLUDE=\((.*?)\)", script.read_text(), re.M | re.S)
    if not m or not m.group(1).split():
        raise SystemExit(f"official.py: no EXCLUDE=(...) list in {script}")
    return tuple(p.rstrip("/") for p in m.group(1).split())


# Never in the course copy a submission is built in: a student file could #include the
# reference ("../solution/project3/pager.c"), and the mutants quote its lines.
NOT_IN_COURSE = handout_excludes()
CHILD_GRACE_S = 10            # after Ctrl-C, how long make/grade.py get to stop

GRADED, MALFORMED, MISSING, UNSAFE, TOO_BIG, POLICY, BUILD_ERROR, ERROR = (
    "GRADED", "MALFORMED", "MISSING", "UNSAFE", "TOO-BIG", "POLICY", "BUILD-ERROR", "ERROR")
SUBMISSION_VERDICTS = (MALFORMED, MISSING, UNSAFE, TOO_BIG, POLICY, BUILD_ERROR)


class Refused(Exception):
    """A verdict on the submission, with the message the student sees."""

    def __init__(self, verdict, message):
        super().__init__(message)
        self.verdict = verdict


class GraderError(Exception):
    pass


@dataclass
class Submission:
    files: dict                                  # student file -> bytes
    others: dict = field(default_factory=dict)   # other path -> bytes, or None if too big
    taken_from: dict = field(default_factory=dict)  # student file -> where it was found
    manifest: dict = None


# ---------------------------------------------------------------------------------------
# Reading a submission: only the student files, never anything that escapes it.

def find_student_file(name, present, prefix):
    """Where `name` is among the paths `present`: at its path, under the archive's
    top-level folder, or (a flat upload) by its bare name at the top."""
    for candidate in (name, prefix + name, PurePosixPath(name).name):
        if candidate in present:
            return candidate
    return None


def common_prefix(paths):
    """'top/' if every path lies in one top-level folder, else ''."""
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1 and all("/" in p for p in paths):
        return tops.pop() + "/"
    return ""


def check_name(name):
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts:
        raise Refused(UNSAFE, f"the path {name!r} escapes the submission: nothing was graded")
    return str(p)


def read_tarball(path, wanted):
    try:
        tar = tarfile.open(path)
    except (tarfile.TarError, EOFError, OSError):
        raise Refused(MALFORMED, f"{path.name} is not a tar archive (.tar, .tar.gz, "
                                 ".tar.bz2 or .tar.xz) or cannot be read") from None
    members = {}
    with tar:
        try:
            for n, m in enumerate(tar):
                if n >= MAX_MEMBERS:
                    raise Refused(MALFORMED, f"{path.name} has over {MAX_MEMBERS} members")
                name = check_name(m.name)
                if m.issym() or m.islnk():
                    raise Refused(UNSAFE, f"{m.name} is a link (to {m.linkname!r}): links "
                                          "are not accepted in a submission")
                if not (m.isfile() or m.isdir()):
                    raise Refused(UNSAFE, f"{m.name} is not a regular file")
                if m.isfile():
                    members[name] = m
            prefix = common_prefix(list(members))
            if not any(prefix + w in members for w in wanted):
                prefix = ""             # project3/ itself is the only top-level folder
            sub = Submission({})
            for student in wanted:
                found = find_student_file(student, members, prefix)
                if found:
                    sub.files[student] = read_member(tar, members[found], student)
                    sub.taken_from[student] = found
            taken = set(sub.taken_from.values())
            for name, m in members.items():
                if name in taken:
                    continue
                rel = name[len(prefix):] if prefix and name.startswith(prefix) else name
                sub.others[rel] = tar.extractfile(m).read() if m.size <= MAX_FILE else None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise Refused(MALFORMED, f"{path.name} is damaged: {e}") from None
    if not members:
        raise Refused(MALFORMED, f"{path.name} is an empty archive")
    return sub


def read_member(tar, member, student):
    if member.size > MAX_FILE:
        raise Refused(TOO_BIG, f"{student} is {member.size} bytes, over the limit of "
                               f"{MAX_FILE} bytes")
    return tar.extractfile(member).read()


def read_directory(path, wanted):
    """A directory or a git checkout's working tree."""
    present = {}
    for student in wanted:
        for candidate in (student, PurePosixPath(student).name):
            if os.path.lexists(path / candidate):
                present[student] = candidate
                break
    sub = Submission({})
    for student, rel in present.items():
        here = path
        for part in PurePosixPath(rel).parts:        # no link anywhere on the way
            here = here / part
            if here.is_symlink():
                raise Refused(UNSAFE, f"{here.relative_to(path)} is a symlink: links are "
                                      "not accepted in a submission")
        if not here.is_file():
            raise Refused(UNSAFE, f"{rel} is not a regular file")
        size = here.stat().st_size
        if size > MAX_FILE:
            raise Refused(TOO_BIG, f"{student} is {size} bytes, over the limit of "
                                   f"{MAX_FILE} bytes")
        sub.files[student] = here.read_bytes()
        sub.taken_from[student] = rel
    taken = set(present.values())
    for dirpath, dirnames, filenames in os.walk(path):
        rel_dir = Path(dirpath).relative_to(path)
        dirnames[:] = [d for d in dirnames if d not in CACHES and
                       not (rel_dir == Path(".") and d in NOT_COMPARED)]
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            full = Path(dirpath) / name
            if rel in taken or full.is_symlink() or not full.is_file():
                continue
            sub.others[rel] = full.read_bytes() if full.stat().st_size <= MAX_FILE else None
    return sub


def read_submission(path, wanted):
    path = Path(path)
    if path.is_dir():
        sub = read_directory(path, wanted)
    elif path.is_file():
        sub = read_tarball(path, wanted)
    else:
        raise Refused(MALFORMED, f"{path} does not exist")
    manifest = sub.others.get("MANIFEST.json")
    if manifest:
        try:
            sub.manifest = json.loads(manifest)
        except ValueError:
            sub.manifest = {"unreadable": True}
    missing = [f for f in wanted if f not in sub.files]
    if missing:
        raise Refused(MISSING, f"the submission has no {', '.join(missing)} (looked at the "
                               "path, under one top-level folder, and by bare name)")
    return sub


# ---------------------------------------------------------------------------------------
# The course: a pristine copy at a known version, built once and copied per submission.

def git(*args, cwd=ROOT):
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    if done.returncode != 0:
        raise GraderError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def course_digest(folder):
    """A digest of the names and contents of a course copy's files (not build/, .git)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[0] in NOT_COMPARED or is_cache(rel) or not p.is_file() or p.is_symlink():
            continue
        h.update(str(rel).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def course_version(args):
    """(key, how to export it): a commit of the course repository, or a directory."""
    if args.course:
        course = Path(args.course).resolve()
        if not (course / "grader" / "rubric.toml").is_file():
            raise GraderError(f"{course} is not a copy of the course (no grader/rubric.toml)")
        return f"dir-{course_digest(course)[:16]}", course
    commit = git("rev-parse", "--verify", f"{args.course_commit}^{{commit}}").decode().strip()
    return commit, commit


def left_out(source):
    """shutil.copytree's ignore function for a course copy made from `source`."""
    def ignore(d, names):
        rel = Path(d).relative_to(source)
        return [n for n in names if (rel / n).as_posix() in NOT_IN_COURSE or n in CACHES
                or (rel == Path(".") and n in NOT_COMPARED)]
    return ignore


def export_course(source, dest):
    """The course files (without NOT_IN_COURSE) of a commit or a directory, into dest."""
    dest.mkdir(parents=True)
    if isinstance(source, Path):
        shutil.copytree(source, dest, dirs_exist_ok=True, symlinks=True,
                        ignore=left_out(source))
    else:
        excludes = [f":(exclude){p}" for p in NOT_IN_COURSE]
        archive = subprocess.Popen(["git", "archive", "--format=tar", source, "--", ".",
                                    *excludes], cwd=ROOT, stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            raise GraderError(f"could not export commit {source} into {dest}")


def course_rubric(source, scratch):
    """The course's rubric.toml (never the submission's), as a file, before any build."""
    if isinstance(source, Path):
        return source / "grader" / "rubric.toml"
    scratch.write_bytes(git("show", f"{source}:grader/rubric.toml"))
    return scratch


# What a calling make or pytest may have set that would send the build or grade.py to
# another tree, toolchain or boot than the plain `make` of the course copy.
NOT_INHERITED = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SOLUTION", "TOOLCHAIN", "CROSS", "BOOT",
                 "KEOS_BUILD", "KEOS_BOOT", "KEOS_MAKE_VARS", "KEOS_IMAGE", "KEOS_ISO")


def make_env():
    """The environment of make and grade.py in a course copy: as a student runs them."""
    return {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}


def run_child(cmd, cwd, env=None, timeout=None):
    """Run a child and return (status, output). On Ctrl-C or SIGTERM it is stopped (by
    its PID: SIGINT, then SIGKILL) before the interrupt goes on."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except BaseException:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(CHILD_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def prepare_course(args, log=print, version=None):
    """The built pristine course for this version, in the cache (built once: later calls,
    also from other processes, wait on a lock and reuse it). Returns (key, its path)."""
    key, source = course_version(args) if version is None else version
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    built = cache / key
    with open(cache / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (built / ".built").exists():
            return key, built
        log(f"official: building the course ({key[:12]}) once, in {built}")
        shutil.rmtree(built, ignore_errors=True)
        export_course(source, built)
        status, out = run_child(["make", "-s", MAKE_JOBS], cwd=built, env=make_env())
        if status != 0:
            raise GraderError(f"the pristine course does not build in {built}:\n"
                              + "\n".join(out.splitlines()[-30:]))
        (built / ".built").write_text(key + "\n")
    return key, built


def kernel_image(tree):
    """What grade.py boots, from a tree built by plain `make`: --image and --disk. The one
    place that knows where `make` leaves them (the default toolchain's build/, direct
    boot: build/kernel.elf)."""
    return ["--image", str(tree / "build" / "kernel.elf"),
            "--disk", str(tree / "build" / "disk.img")]


# ---------------------------------------------------------------------------------------
# Grading.

def student_sources(tree, sub):
    return [tree / name for name in sorted(sub.files)]


def refuse_violations(found):
    if found:
        raise Refused(POLICY, "the student files break the rules for them (handouts/"
                      "project3.md, \"You may call\"):\n" + "\n".join(map(str, found[:10])))


def checks_before_build(tree, sub):
    """The policy on the student files' sources (harness/policy.py: no inline asm, no port
    or MSR access, allowlisted includes), in place in `tree`, before anything is built.
    The course's own rubric holds the allowlists."""
    allow = policy.load(tree / "grader" / "rubric.toml")
    refuse_violations(policy.check_sources(student_sources(tree, sub), allow))


def checks_after_build(tree, sub):
    """The policy on the compiled student objects: every undefined symbol allowlisted, no
    privileged instruction (the build's objects sit at build/<file>.o)."""
    sources = student_sources(tree, sub)
    objects = [tree / "build" / f"{s.relative_to(tree)}.o" for s in sources]
    allow = policy.load(tree / "grader" / "rubric.toml")
    refuse_violations(policy.check_objects(objects, sources, allow))


def ignored_files(sub, course):
    """The submission's other files that differ from the course (or are not in it): the
    changes that the official grade leaves out."""
    out = []
    for rel, data in sorted(sub.others.items()):
        if rel == "MANIFEST.json" or rel.split("/", 1)[0] in NOT_COMPARED or is_cache(rel):
            continue
        mine = course / rel
        if data is None or not mine.is_file() or mine.is_symlink() or mine.read_bytes() != data:
            out.append(rel)
    return out


def first_errors(output):
    lines = output.splitlines()
    errors = [i for i, l in enumerate(lines) if "error" in l.lower()]
    start = max(0, (errors[0] if errors else len(lines) - BUILD_ERROR_LINES) - 2)
    return "\n".join(lines[start:start + BUILD_ERROR_LINES])


def build(tree, sub, log):
    for name, data in sub.files.items():
        target = tree / name
        target.unlink(missing_ok=True)         # a fresh file, newer than every object
        target.write_bytes(data)
    checks_before_build(tree, sub)
    start = time.monotonic()
    status, out = run_child(["make", "-s", MAKE_JOBS], cwd=tree, env=make_env())
    (log / "build.log").write_text(out)
    if status != 0:
        raise Refused(BUILD_ERROR, "the kernel does not compile with the submitted files:\n"
                      + first_errors(out))
    checks_after_build(tree, sub)
    return time.monotonic() - start


def grade(tree, args, log):
    results = log / "grade.json"
    results.unlink(missing_ok=True)
    env = dict(make_env(), KEOS_LOG_DIR=str(log / "qemu"))
    cmd = [sys.executable, str(tree / "grader" / "grade.py"), *kernel_image(tree),
           "--rubric", str(tree / "grader" / "rubric.toml"), "--results", str(results),
           "-j", str(args.jobs), "--timeout-scale", str(args.timeout_scale)]
    status, out = run_child(cmd, cwd=tree, env=env)
    (log / "grade.log").write_text(out)
    if status != 0 or not results.exists():
        raise GraderError(f"grade.py failed (status {status}):\n{out[-2000:]}")
    return json.loads(results.read_text())


def official(args, log=print):
    """The whole official grade of args.submission as a result dict."""
    start = time.monotonic()
    logs = Path(args.logs).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    out = {"submission": str(args.submission), "verdict": ERROR, "message": "",
           "score": 0, "max": rubric.TOTAL, "tests": [], "files": [], "ignored": [],
           "logs": str(logs)}
    work = None
    try:
        version = course_version(args)
        out["course"] = version[0]
        wanted = rubric.student_files(course_rubric(version[1], logs / "course-rubric.toml"))
        sub = read_submission(args.submission, wanted)
        out["files"] = [{"path": n, "from": sub.taken_from[n], "bytes": len(d),
                         "sha256": hashlib.sha256(d).hexdigest()} for n, d in sub.files.items()]
        _, course = prepare_course(args, log, version)
        ignored = ignored_files(sub, course)
        out["ignored"] = ignored[:MAX_IGNORED_LISTED]
        out["ignored_count"] = len(ignored)
        if sub.manifest:
            out["manifest"] = sub.manifest
        work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(
            prefix="official-"))
        tree = work / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(course, tree, symlinks=True)
        out["build_s"] = round(build(tree, sub, logs), 3)
        graded = grade(tree, args, logs)
        out.update(verdict=GRADED, score=graded["score"], max=graded["max"],
                   tests=graded["tests"])
        out["message"] = f"score {graded['score']}/{graded['max']}"
    except Refused as e:
        out.update(verdict=e.verdict, message=str(e))
    except (GraderError, rubric.RubricError, OSError) as e:
        out.update(verdict=ERROR, message=f"the grader could not run: {e}")
    finally:
        if work and not args.work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out["wall_s"] = round(time.monotonic() - start, 3)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="official.py", description=__doc__.split("\n")[0])
    ap.add_argument("submission", help="a tarball, a directory or a git checkout")
    ap.add_argument("--out", help="write the result here as JSON")
    ap.add_argument("--logs", help="folder for build.log, grade.log and QEMU logs "
                                   "(default: build/official/logs/<submission name>)")
    ap.add_argument("--course-commit", default="HEAD",
                    help="grade with the course as it is at this commit (default HEAD)")
    ap.add_argument("--course", help="grade with this copy of the course (not a checkout)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "official"),
                    help="where built course versions are kept (build/official)")
    ap.add_argument("--work", help="build the submission here (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary build folder")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only build the course version into the cache (Gradescope setup)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at a time (default 2)")
    ap.add_argument("--timeout-scale", type=float,
                    default=float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")),
                    help="multiply every test's timeout (env KEOS_TIMEOUT_SCALE)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.logs is None:
        args.logs = str(Path(args.cache) / "logs" / Path(args.submission).name)
    return args


def summary(out):
    lines = [f"{out['verdict']}: {out['message']}"]
    for f in out["files"]:
        lines.append(f"  took {f['path']} (from {f['from']}) sha256 {f['sha256'][:16]}")
    if out["ignored"]:
        more = out["ignored_count"] - len(out["ignored"])
        lines.append(f"  ignored (changed, not graded): {', '.join(out['ignored'])}"
                     + (f" and {more} more" if more > 0 else ""))
    for t in out["tests"]:
        if t["points"] != t["max"]:
            lines.append(f"  {t['name']:<28} {t['verdict']:<16} {t['points']}/{t['max']}  "
                         f"{t['failure']}")
    lines.append(f"Score: {out['score']}/{out['max']}  ({out['wall_s']:.1f} s; logs in "
                 f"{out['logs']})")
    return "\n".join(lines)


def interrupt(signum, frame):
    raise KeyboardInterrupt     # SIGTERM stops the children as Ctrl-C does


def main(argv=None):
    signal.signal(signal.SIGTERM, interrupt)
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    try:
        if args.prepare_only:
            key, built = prepare_course(args, log)
            print(f"official: course {key[:12]} built in {built}")
            return 0
        out = official(args, log)
    except KeyboardInterrupt:
        print("official.py: interrupted; no result", file=sys.stderr)
        return 130
    except GraderError as e:
        print(f"official.py: {e}", file=sys.stderr)
        return 2
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        report.write_json(tmp, out)
        tmp.replace(args.out)          # whole or absent: batch.py resumes on it
    print(summary(out))
    return {GRADED: 0, ERROR: 2}.get(out["verdict"], 1)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Grade a folder of submissions officially, N at a time.

    grader/batch.py ~/project3-submissions/ -j 2
    grader/batch.py a.tar.gz b.tar.gz kim/ -o build/batch -j 2

Each argument is a submission (a tarball, or a directory holding a student file), or a
folder whose entries are submissions. Each is graded by official.py in its own process
group, with its own build directory (OUT/.work/<student>, removed afterwards) and its
own QEMUs (`--qemus` at a time, default 1), and a time limit for the whole submission on
top of the rubric's per-test timeouts. The student's name is the archive's
`project3-<user>-<time>` user, else the file or folder name.

OUT (default build/batch) gets:
  grades.csv      student, score, one column per rubric test (points), status, wall_s
  grades.json     the same, with each test's verdict and first failure line, the files
                  taken and ignored, and the message (BUILD-ERROR's compiler errors, ...)
  <student>/      result.json (what the batch kept), official.json (official.py's own),
                  build.log, grade.log, qemu/ (every QEMU's serial log)

A progress bar with an ETA goes to a terminal. Ctrl-C stops every child and its QEMUs,
keeps what is finished and writes the tables; running the same command again resumes:
a submission whose result.json matches its current content is not graded again
(--redo grades everything).
"""

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import official                          # noqa: E402  (after the path fix above)
from harness import qemu, report, rubric  # noqa: E402
from harness.paths import GRADER, ROOT, is_cache  # noqa: E402

ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$")
SUBMIT_NAME = re.compile(r"^project3-(.+)-\d{8}-\d{6}$")    # make submit's file names
BUILD_ALLOWANCE_S = 300    # per submission, on top of the rubric's timeouts: copy + build
STOP_GRACE_S = 10          # after SIGINT, how long a child gets before SIGKILL


def student_name(path):
    name = ARCHIVE.sub("", path.name) if path.is_file() else path.name
    m = SUBMIT_NAME.match(name)
    return m.group(1) if m else name


def is_submission_dir(path, files):
    return (path / ".git").exists() or any(
        (path / f).exists() or (path / Path(f).name).exists() for f in files)


def collect(args_paths, files):
    """[(student, path)] in a stable order; a second student of the same name gets -2."""
    found = []
    for arg in map(Path, args_paths):
        if arg.is_dir() and not is_submission_dir(arg, files):
            found += sorted(p for p in arg.iterdir() if not p.name.startswith("."))
        else:
            found.append(arg)
    out, seen = [], {}
    for path in found:
        name = re.sub(r"[^A-Za-z0-9_.@+-]", "_", student_name(path)) or "unnamed"
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}-{seen[name]}", path))
    return out


def digest(path):
    """What the submission is now: a changed submission is graded again on resume."""
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif path.is_dir():
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path)
            if rel.parts[0] in official.NOT_COMPARED or is_cache(rel) or not p.is_file():
                continue
            st = p.lstat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    else:
        h.update(b"missing")
    return h.hexdigest()


def group_processes(pgid):
    """'pid state wchan command' of each process in a process group (from /proc): what
    a child that ignored Ctrl-C was doing."""
    try:
        pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return ["  (no /proc on this host)"]
    found = []
    for pid in pids:
        fields = qemu.proc_stat(pid)
        if not fields or int(fields[2]) != pgid:        # field 5: the process group
            continue
        try:
            wchan = Path(f"/proc/{pid}/wchan").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append(f"  {pid} {fields[0]} {wchan or '-'} {cmd[:160]}")
    return found


class Batch:
    def __init__(self, args, subs, items):
        self.args = args
        self.subs = subs
        self.items = items
        self.out = Path(args.out).resolve()
        self.children = {}               # pid -> Popen of a running official.py
        self.lock = threading.Lock()
        self.stopping = False
        self.done = 0
        self.todo = 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        total = sum(i.timeout for i in items) * args.timeout_scale / args.qemus
        self.limit_s = args.timeout or total + BUILD_ALLOWANCE_S

    def result_path(self, student):
        return self.out / student / "result.json"

    def finished(self, student, path):
        """The kept result, if it is for this very submission."""
        try:
            kept = json.loads(self.result_path(student).read_text())
        except (OSError, ValueError):
            return None
        return kept if kept.get("digest") == digest(path) else None

    def course_args(self):
        a = self.args
        return (["--course", a.course] if a.course else ["--course-commit", a.course_commit]) \
            + ["--cache", a.cache]

    def spawn(self, cmd):
        """official.py in its own process group (Ctrl-C at the terminal reaches only this
        process, which stops the groups itself). None once stopping has begun."""
        with self.lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            self.children[proc.pid] = proc
        return proc

    def reap(self, proc, timeout):
        try:
            out, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            self.stop_group(proc)
            out, _ = proc.communicate()
            timed_out = True
        with self.lock:
            self.children.pop(proc.pid, None)
        return out.decode(errors="replace"), timed_out

    def prepare(self):
        proc = self.spawn([sys.executable, str(GRADER / "official.py"), "--prepare-only",
                           "x", *self.course_args()])
        out, _ = self.reap(proc, None)
        if proc.returncode != 0:
            raise official.GraderError(out.strip())

    def grade_one(self, student, path):
        result = self.result_path(student)
        logs = result.parent
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        work = self.out / ".work" / student
        # official.py's own result, not result.json: an interrupted official.py may still
        # write it, and result.json is only ever a result this batch kept.
        official_out = logs / "official.json"
        proc = self.spawn([sys.executable, str(GRADER / "official.py"), str(path.resolve()),
                           "--out", str(official_out), "--logs", str(logs), "--work", str(work),
                           "-j", str(self.args.qemus), "--timeout-scale",
                           str(self.args.timeout_scale), "-q", *self.course_args()])
        if proc is None:
            return None
        start = time.monotonic()
        out, timed_out = self.reap(proc, self.limit_s)
        shutil.rmtree(work, ignore_errors=True)
        if self.stopping:
            return None                   # interrupted: left to the next run
        (logs / "official.log").write_text(out)
        try:
            kept = json.loads(official_out.read_text())
        except (OSError, ValueError):
            why = (f"no result within {self.limit_s:.0f} s" if timed_out else
                   f"official.py ended with status {proc.returncode} and no result:\n"
                   + out[-1500:])
            kept = {"submission": str(path), "verdict": "TIMEOUT" if timed_out else "ERROR",
                    "message": why, "score": 0, "max": rubric.TOTAL, "tests": [],
                    "files": [], "ignored": [], "logs": str(logs)}
        kept.update(student=student, digest=digest(path),
                    wall_s=round(time.monotonic() - start, 3))
        report.write_json(result.with_suffix(".tmp"), kept)
        result.with_suffix(".tmp").replace(result)
        return kept

    def progress(self, last=None):
        with self.lock:
            self.done += 1
            done, todo = self.done, self.todo
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (todo - done)
        what = f"{last['student']}: {last['verdict']} {last['score']}" if last else ""
        if self.tty:
            width = 30
            bar = "#" * (width * done // todo) + "." * (width - width * done // todo)
            sys.stderr.write(f"\r[{bar}] {done}/{todo}  {elapsed:4.0f} s, ETA "
                             f"{eta:4.0f} s  {what:<40.40}")
            sys.stderr.flush()
        else:
            print(f"batch: {done}/{todo} {what} ({elapsed:.0f} s, ETA {eta:.0f} s)",
                  file=sys.stderr, flush=True)

    def stop_group(self, proc):
        """SIGINT to a child's process group (official.py, make, grade.py: grade.py stops
        its QEMUs), SIGKILL after a grace period. By the group we created, never by name."""
        for sig, grace in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGKILL, None)):
            if sig == signal.SIGKILL:
                print(f"batch: {' '.join(proc.args[1:3])} did not stop within "
                      f"{STOP_GRACE_S} s of Ctrl-C; killing its processes:\n"
                      + "\n".join(group_processes(proc.pid)), file=sys.stderr, flush=True)
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop_all(self):
        with self.lock:
            self.stopping = True
            procs = list(self.children.values())
        threads = [threading.Thread(target=self.stop_group, args=(p,)) for p in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run(self):
        pending = []
        for student, path in self.subs:
            if not self.args.redo and self.finished(student, path):
                continue
            pending.append((student, path))
        self.todo = len(pending)
        skipped = len(self.subs) - len(pending)
        print(f"batch: {len(self.subs)} submissions, {skipped} already graded, "
              f"{len(pending)} to grade, {self.args.jobs} at a time, {self.args.qemus} "
              f"QEMU(s) each; results in {self.out}", file=sys.stderr, flush=True)
        if not pending:
            return True
        self.prepare()
        pool = ThreadPoolExecutor(max_workers=self.args.jobs)
        try:
            waiting = {pool.submit(self.grade_one, s, p) for s, p in pending}
            while waiting:
                # A short timeout: Ctrl-C lands here between waits, not in a lock wait.
                done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    kept = f.result()
                    if kept:
                        self.progress(kept)
            pool.shutdown()
            return True
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            self.stop_all()
            pool.shutdown(wait=True)
            return False
        finally:
            if self.tty:
                sys.stderr.write("\n")


def tables(out, subs, items):
    """grades.csv and grades.json from every kept result (finished ones only)."""
    rows = []
    for student, _ in subs:
        try:
            rows.append(json.loads((out / student / "result.json").read_text()))
        except (OSError, ValueError):
            continue
    names = [i.name for i in items]
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", *names, "status", "wall_s"])
        for r in rows:
            points = {t["name"]: t["points"] for t in r.get("tests", [])}
            w.writerow([r["student"], r["score"], *[points.get(n, 0) for n in names],
                        r["verdict"], r["wall_s"]])
    summary = [{
        "student": r["student"], "submission": r.get("submission"), "score": r["score"],
        "max": r.get("max", rubric.TOTAL), "status": r["verdict"], "message": r["message"],
        "wall_s": r["wall_s"], "files": r.get("files", []), "ignored": r.get("ignored", []),
        "logs": r.get("logs"),
        "tests": {t["name"]: {k: t[k] for k in ("verdict", "points", "max", "failure")}
                  for t in r.get("tests", [])},
    } for r in rows]
    report.write_json(out / "grades.json", summary)
    return rows


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="batch.py", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    ap.add_argument("-o", "--out", default=str(ROOT / "build" / "batch"),
                    help="results folder (default build/batch)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="submissions at a time (2)")
    ap.add_argument("--qemus", type=int, default=1, help="QEMUs at a time per submission (1)")
    ap.add_argument("--timeout", type=float,
                    help="seconds per submission (default: the rubric's timeouts plus "
                         f"{BUILD_ALLOWANCE_S} s for the build)")
    ap.add_argument("--timeout-scale", type=float,
                    default=float(os.environ.get("KEOS_TIMEOUT_SCALE", "1")),
                    help="multiply every test's timeout (env KEOS_TIMEOUT_SCALE)")
    ap.add_argument("--course-commit", default="HEAD", help="the course version (HEAD)")
    ap.add_argument("--course", help="a copy of the course instead of a commit")
    ap.add_argument("--cache", default=str(ROOT / "build" / "official"),
                    help="built course versions (build/official)")
    ap.add_argument("--redo", action="store_true", help="grade even what is already graded")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.qemus < 1:
        ap.error("-j and --qemus must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        version = official.course_version(args)
        course_rubric = official.course_rubric(version[1], Path(args.out) / ".rubric.toml")
        items = rubric.load(course_rubric)
        files = rubric.student_files(course_rubric)
    except (official.GraderError, rubric.RubricError, OSError) as e:
        print(f"batch.py: {e}", file=sys.stderr)
        return 2
    subs = collect(args.paths, files)
    if not subs:
        print("batch.py: no submissions found", file=sys.stderr)
        return 2
    batch = Batch(args, subs, items)
    try:
        complete = batch.run()
    except official.GraderError as e:
        print(f"batch.py: the course could not be built: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:          # during the course build
        batch.stop_all()
        complete = False
    rows = tables(batch.out, subs, items)
    print(f"batch: {len(rows)} of {len(subs)} graded in {time.monotonic() - batch.start:.1f} s;"
          f" {batch.out / 'grades.csv'}")
    if not complete:
        print("batch: interrupted; finished results are kept: run the same command again "
              "to grade the rest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

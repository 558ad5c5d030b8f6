#!/usr/bin/python3
"""`make submit`: pack the files a student writes into one archive to hand in.

    make submit              # build/submit/project3-<user>-<YYYYmmdd-HHMMSS>.tar.gz
    make submit FORCE=1      # even if the student files are still the handed-out stubs

The archive holds exactly the rubric's student_files ([submission] in grader/rubric.toml)
and MANIFEST.json: each file's SHA-256, the commit the work started from, the commit
checked out now, and the time. The official grade takes nothing else: if another tracked
file differs from the starting commit, this says so, file by file, because that change
will not count. The starting commit is the upstream branch's merge base, or the first
commit of the repository (a Classroom or handout repository starts with the handout).
"""

import argparse
import getpass
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import rubric      # noqa: E402  (after the path fix above)
from harness.paths import ROOT    # noqa: E402

OUT_DIR = ROOT / "build" / "submit"


class SubmitError(Exception):
    pass


def git(*args):
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise SubmitError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def base_commit(given):
    if given:
        return git("rev-parse", "--verify", f"{given}^{{commit}}").decode().strip()
    try:
        return git("merge-base", "HEAD", "@{upstream}").decode().strip()
    except SubmitError:
        roots = git("rev-list", "--max-parents=0", "HEAD").decode().split()
        return roots[-1]


def at_commit(commit, path):
    try:
        return git("show", f"{commit}:{path}")
    except SubmitError:
        return None


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="submit.py", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true",
                    help="pack even if no student file differs from the starting commit")
    ap.add_argument("--base", help="the commit the work started from (default: see above)")
    ap.add_argument("--user", default=getpass.getuser(), help="the name in the file name")
    ap.add_argument("--out-dir", default=str(OUT_DIR), help="where to write (build/submit)")
    return ap.parse_args(argv)


def pack(files, manifest, path):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in list(files.items()) + [
                ("MANIFEST.json", (json.dumps(manifest, indent=1) + "\n").encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def submit(args):
    if not (ROOT / ".git").exists():
        raise SubmitError(f"{ROOT} is not a git checkout: make submit needs the repository "
                          "you started from")
    names = rubric.student_files()
    base = base_commit(args.base)
    head = git("rev-parse", "HEAD").decode().strip()
    files = {}
    for name in names:
        path = ROOT / name
        if not path.is_file() or path.is_symlink():
            raise SubmitError(f"{name} is missing or not a regular file")
        files[name] = path.read_bytes()
    untouched = [n for n in names if files[n] == at_commit(base, n)]
    if len(untouched) == len(names) and not args.force:
        raise SubmitError(f"none of {', '.join(names)} differs from the commit you started "
                          f"from ({base[:12]}): this would hand in the empty stubs.\n"
                          "Write your code first, or run `make submit FORCE=1` to hand them "
                          "in anyway.")
    changed = git("diff", "--name-only", "-z", base, "--").decode().split("\0")
    ignored = sorted(n for n in changed if n and n not in names)
    if ignored:
        print(f"warning: these files differ from the commit you started from ({base[:12]}), "
              f"but only {', '.join(names)} are graded: these changes will be ignored:\n"
              + "".join(f"    {n}\n" for n in ignored), end="", file=sys.stderr)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    user = re.sub(r"[^A-Za-z0-9_.+]", "_", args.user) or "student"
    manifest = {
        "user": args.user,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_commit": base,
        "head_commit": head,
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "files": [{"path": n, "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                  for n, d in files.items()],
        "ignored_changes": ignored,
        "untouched": untouched,
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"project3-{user}-{stamp}.tar.gz"
    pack(files, manifest, path)
    return path, manifest


def main(argv=None):
    args = parse_args(argv)
    try:
        path, manifest = submit(args)
    except SubmitError as e:
        print(f"make submit: {e}", file=sys.stderr)
        return 1
    for f in manifest["files"]:
        print(f"  {f['path']:<20} {f['bytes']:>7} bytes  sha256 {f['sha256'][:16]}")
    if manifest["untouched"]:
        print(f"note: still the handed-out version: {', '.join(manifest['untouched'])}")
    print(f"Wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          "hand in this file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

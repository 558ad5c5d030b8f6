"""The student handout (`make handout`, tools/mkhandout.sh): exported from HEAD without
solution/ and the mutants, checked for leaked reference code, and buildable; its READMEs
are the student versions (tools/student-copy.awk) and name nothing the handout lacks."""

import glob
import hashlib
import json
import re
import shutil
import subprocess
import sys

import pytest

from harness import qemu
from harness.paths import ROOT
from harness.plugin import once_per_session
from official import course_digest, handout_excludes

# What a student's README and grader/README.md must not say: the handout has none of it.
STAFF_ONLY = {
    "README.md": ["SOLUTION=1", "solution/", "make handout"],
    "grader/README.md": ["mutants/", "policy_fixtures", "test_grader_mutants", "test_forgery"],
}


def handout_key():
    """What `tools/mkhandout.sh OUT` depends on: the commit's tree (it exports HEAD), the
    script, and what builds and collects the export (compilers, make, Python, pytest)."""
    tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    tools = [subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
             .split("\n", 1)[0] if shutil.which(tool) else f"no {tool}"
             for tool in ("make", "gcc", "ld", "clang", "ld.lld")]
    made_of = (ROOT / "tools" / "mkhandout.sh").read_bytes() + \
        "\0".join(tools + [sys.version, pytest.__version__]).encode()
    return f"{tree} {hashlib.sha1(made_of).hexdigest()}"


@pytest.fixture(scope="module")
def handout(request):
    """The handout, exported and built once per pytest run (xdist workers included), and
    kept for later runs while handout_key() is the same: the same commit exported by the
    same script and built by the same tools gives the same handout (a new commit, an
    edited mkhandout.sh or another compiler exports it again; its build takes 5 of its 7 s)."""
    if not (ROOT / "solution").is_dir():
        pytest.skip("this copy is already a handout")
    out = qemu.BUILD / "handout-test"
    stamp = qemu.BUILD / "handout-test.json"

    def export():
        key = handout_key()
        if stamp.exists() and out.is_dir():
            kept = json.loads(stamp.read_text())
            if kept["key"] == key and kept["files"] == course_digest(out):
                return kept["status"], kept["output"]
        stamp.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run(["tools/mkhandout.sh", str(out)], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        stamp.write_text(json.dumps({"key": key, "files": course_digest(out),
                                     "status": done.returncode,
                                     "output": done.stdout + done.stderr}))
        return done.returncode, done.stdout + done.stderr
    status, output = once_per_session(request.config, "handout", export)
    assert status == 0, f"mkhandout failed:\n{output}"
    return out


def test_handout_has_no_solution_and_builds(handout):
    assert not (handout / "solution").exists()
    # make check's start order names no test of a file the handout leaves out.
    times = json.loads((handout / "grader" / "durations.json").read_text())
    assert times and not [k for k in times if ("grader/" + k).startswith(handout_excludes())]
    assert not (handout / "grader" / "mutants").exists()
    assert not (handout / "grader" / "policy_fixtures").exists()    # a second solution
    # The stubs are what the students get.
    for name in ("npt.c", "mmio.c", "pager.c"):
        assert "TODO()" in (handout / "project3" / name).read_text(), name


def mentioned_paths(text):
    """The repository paths a Markdown text names: words with a '/' in `code` spans and
    link targets, minus build outputs, host paths, options and placeholders."""
    words = [w for span in re.findall(r"`([^`\n]+)`", text) for w in span.split()]
    words += re.findall(r"\]\(([^)#\s]+)", text)
    for word in words:
        word = re.sub(r"(:\d+)?[.,:;)]*$", "", word.lstrip("(")).split("::")[0]
        # A file with an extension, or a directory: `keos/test.c`, `handouts/`.
        if not re.fullmatch(r"[\w.][\w.*/-]*/([\w*-]+\.[\w*]+)?", word) or \
                word.startswith(("build/", "../build/")):
            continue
        yield word


@pytest.mark.parametrize("readme", sorted(STAFF_ONLY))
def test_readme_speaks_to_students(handout, readme):
    staff_text = (ROOT / readme).read_text()
    text = (handout / readme).read_text()
    for words in STAFF_ONLY[readme]:
        # The staff's copy says it (or this test could not fail); the student's must not.
        assert words in staff_text, f"{readme} no longer mentions {words!r}: update STAFF_ONLY"
        lines = [l for l in text.splitlines() if words in l]
        assert not lines, f"the handout's {readme} mentions {words!r}:\n" + "\n".join(lines)
    missing = []
    for path in sorted(set(mentioned_paths(text))):
        bases = {handout, (handout / readme).parent}
        if not any(glob.glob(str(base / path)) for base in bases):
            missing.append(path)
    assert not missing, f"the handout's {readme} names paths it does not have: {missing}"
    assert len(list(mentioned_paths(text))) > 5, "the path scan found (almost) nothing"

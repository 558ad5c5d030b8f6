"""Student code cannot forge a verdict (issue 13): forgeries, each earning 0 points.

Each grader/mutants/forge_*.sed script turns the handed-out skeleton's npt_map into a
forger (its first lines say how). Two independent defences must each stop it:

* the run (test_forgery_earns_nothing): the kernel is built WITHOUT the policy check,
  as if the policy had let it through, and the "# expect:" tests are graded as grade.py
  does: the verdict must be the script's "# verdict:" (FORGED, marked for review, or
  PANIC when the runner refuses to be started twice) and the points 0;
* the policy (test_policy_refuses_forgery): grade.py --policy-only on the forged file
  must answer with the verdict POLICY before anything is built, or, for "# policy: ok"
  (printk is allowed), let it through to be caught by the run.

Builds are shared with test_grader_mutants.py (build/mutants/<name>/). Marker `mutants`.
That the policy's yardstick, the independently written grader/policy_fixtures/
second_solution/, keeps to the policy is test_policy.py's; that it earns every point in
an official grade is test_course_batch.py's.
"""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import Verdict, qemu, rubric
from harness.mutant import read_header
from test_grader_mutants import BUILD_JOBS, ITEMS, MUTANT_DIR, ROOT, WORK, Mutant, build, \
    tree_digest

TARGET = "project3/npt.c"       # the skeleton, as handed out

pytestmark = [pytest.mark.mutants, pytest.mark.kernel]


def load_forgeries():
    out = []
    for script in sorted(MUTANT_DIR.glob("forge_*.sed")):
        header = read_header(script)
        m = Mutant(script.stem, script, TARGET, header.expect, [], [], solution=False)
        m.verdict = Verdict(header.verdict)
        m.policy = header.policy
        out.append(m)
    return out


FORGERIES = load_forgeries()
IDS = [m.name for m in FORGERIES]


@pytest.fixture(scope="session")
def forgery_builds(keos_build):
    keos_build.ensure(qemu.IMAGE)       # and build/disk.img, which the forgeries boot with
    digest = tree_digest()
    with ThreadPoolExecutor(max_workers=BUILD_JOBS) as pool:
        return dict(zip(IDS, pool.map(lambda m: build(m, digest), FORGERIES)))


def test_forgeries_cover_the_issue():
    """Issue 13's list: console only, exit port only, both, the runner's own functions,
    fw_cfg; each names rubric tests, a verdict that earns nothing, and a policy answer."""
    assert {"forge_console", "forge_exit_port", "forge_both", "forge_runner",
            "forge_fw_cfg"} <= set(IDS)
    for m in FORGERIES:
        assert m.expect and all(n in ITEMS for n in m.expect), m.name
        assert m.verdict in (Verdict.FORGED, Verdict.PANIC), m.name
        assert m.policy in ("POLICY", "ok"), m.name


@pytest.mark.parametrize("forgery", FORGERIES, ids=IDS)
def test_forgery_earns_nothing(forgery_builds, keos, forgery):
    image, _, error = forgery_builds[forgery.name]
    assert error is None, f"{forgery.name}: {error}"
    for name in forgery.expect:
        item = ITEMS[name]
        result = keos(name, image=image, timeout=item.timeout)
        scored = rubric.score(item, result)
        assert result.verdict == forgery.verdict and scored.earned == 0, \
            f"{forgery.name} on {name}: {result.verdict}, {scored.earned} points " \
            f"(want {forgery.verdict}, 0)\n{result.explain()}"
        if forgery.verdict == Verdict.FORGED:
            assert result.note.startswith("marked for review"), result.note


@pytest.mark.parametrize("forgery", FORGERIES, ids=IDS)
def test_policy_refuses_forgery(forgery_builds, forgery):
    """grade.py's policy on the forged tree, as `make grade` runs it: the sources before
    building, and (if they pass) the objects of the build."""
    image, _, error = forgery_builds[forgery.name]
    assert error is None, f"{forgery.name}: {error}"
    tree = WORK / forgery.name
    sources = [tree / "project3" / n for n in ("npt.c", "mmio.c", "pager.c")]
    objects = [image.parent / "project3" / f"{s.name}.o" for s in sources]
    done = subprocess.run([sys.executable, str(ROOT / "grader" / "grade.py"), "--policy-only",
                           "--sources", *map(str, sources), "--objects", *map(str, objects)],
                          capture_output=True, text=True, timeout=120)
    if forgery.policy == "ok":
        assert done.returncode == 0 and not done.stdout, done.stdout + done.stderr
        return
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Verdict POLICY" in done.stdout and "Score: 0/100" in done.stdout, done.stdout
    # Every violation names the forged file, a line in it and the symbol.
    lines = [l for l in done.stdout.splitlines() if l.startswith("POLICY ")]
    npt = re.escape(str(sources[0]))
    assert lines and all(re.match(rf"POLICY  {npt}:[1-9]\d*: \S+: ", l) for l in lines), \
        done.stdout

"""The C tree's layers (grader/harness/layers.py): keos sees only keos/, kev keos/ and
kev/, Project 3 all three, a guest its own directory; every #include is checked against
the Makefile's -I flags of its file's layer, and a planted wrong include is caught."""
import shutil

import pytest

from harness import layers

LAYERS = layers.makefile_layers()


def test_the_tree_keeps_its_layers():
    found = layers.violations(layers.ROOT, LAYERS)
    assert not found, "includes that cross a layer:\n" + "\n".join(map(str, found))


def test_each_layer_sees_only_the_ones_below():
    keos, kev, p3 = LAYERS["KEOS_INC"], LAYERS["KEV_INC"], LAYERS["P3_INC"]
    assert keos == ["keos"], f"keos must see keos/ only, the Makefile gives {keos}"
    assert set(keos) < set(kev) and set(kev) < set(p3), \
        f"each layer must see the one below it: keos {keos}, kev {kev}, project3 {p3}"
    assert not [d for d in kev if d.startswith("project3")], f"kev sees project3: {kev}"
    for guest in ("GUEST_INC", "STRESS_INC"):
        assert not set(LAYERS[guest]) & {"kev", "project3"}, \
            f"{guest} lets a guest see the hypervisor: {LAYERS[guest]}"


# A copy of the real tree with one wrong include planted: (file, the line added).
PLANTED = [
    ("keos/main.c", '#include "vm.h"'),                 # keos calling up into kev
    ("keos/cpu.h", '#include "svm.h"'),                 # a header no keos .c would catch
    ("kev/vm.h", '#include "npt.h"'),                   # kev reaching into project3
    ("kev/exit.c", '#include "../project3/mmio.h"'),    # ... through a relative path
    ("guests/keos/main.c", '#include "vm.h"'),          # a guest seeing the hypervisor
]


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory):
    """The layers' directories of the real tree, copied once."""
    root = tmp_path_factory.mktemp("tree")
    for top, _ in layers.LAYER_OF_DIR:
        if (layers.ROOT / top).is_dir():
            shutil.copytree(layers.ROOT / top, root / top, dirs_exist_ok=True)
    return root


@pytest.mark.parametrize("file, line", PLANTED)
def test_a_planted_wrong_include_is_caught(tree_copy, file, line):
    path = tree_copy / file
    original = path.read_text()
    path.write_text(original + line + "\n")
    try:
        found = layers.violations(tree_copy, LAYERS)
    finally:
        path.write_text(original)
    assert [(v.file, v.line) for v in found] == [(file, original.count("\n") + 1)], \
        f"planting {line!r} in {file} gave {list(map(str, found))}"

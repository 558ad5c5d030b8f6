"""The failure messages handouts/debugging.md shows as examples ("What a failed check
says"), for the tests that compare them with the real ones: a message that changes
must change in the handout too."""
import re

from .qemu import ROOT

HANDOUT = ROOT / "handouts" / "debugging.md"
_FAIL_LINE = re.compile(r"^\[test\] (\S+): FAIL at \S+:\d+: (.*)$", re.M)   # keos/test.c
_HEX = re.compile(r"0x[0-9a-f]+")


def shape(message):
    """The message with its hex numbers (addresses, byte values) blanked: they move with
    the code; the wording and the decimal numbers (levels, slots, segments) do not."""
    return _HEX.sub("0x…", message.strip())


def handout_examples(test):
    """The messages the handout shows for `test` (console FAIL lines, file:line dropped)."""
    return [m for t, m in _FAIL_LINE.findall(HANDOUT.read_text()) if t == test]


def example_mismatch(test, failure):
    """None if `failure` ("file:line: message") reads like one of the handout's examples
    for `test`, else why not."""
    message = re.sub(r"^\S+:\d+: ", "", failure or "")
    examples = handout_examples(test)
    if any(shape(e) == shape(message) for e in examples):
        return None
    return (f"{test}: the message\n  {message}\nis not among {HANDOUT.name}'s examples "
            f"(hex numbers aside):\n  " + "\n  ".join(examples or ["(none for this test)"]))

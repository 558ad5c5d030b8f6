"""The header of a mutant script (grader/mutants/*.sed): what bug it plants and what must
catch it. One reader for test_grader_mutants.py, test_forgery.py and test_npt_host.py.

    # expect: npt.simple npt.errors        tests that must catch it (lines add up;
                                           "(...)" after the names is a comment)
    # may-fail: pager.lazy                 knock-on failures it may cause too
    # message: <test>: <text>              that test's failure must contain <text>
    # verdict: PANIC                       the verdict each expected test must get
    # detail: <regex>                      its grade detail must match <regex>
    # target: solution/project3/npt.c      the file it edits
    # policy: ok                           what the source policy says about it

Other "#" lines are prose.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

_FIELD = re.compile(r"^# (expect|may-fail|message|verdict|detail|target|policy): ?(.*)$", re.M)


@dataclass
class Header:
    expect: list = field(default_factory=list)
    may_fail: list = field(default_factory=list)
    messages: list = field(default_factory=list)    # (test, text)
    verdict: str = None
    detail: str = None
    target: str = None
    policy: str = None


def read_header(script):
    """The Header of the sed script at `script`."""
    header = Header()
    for key, value in _FIELD.findall(Path(script).read_text()):
        value = value.strip()
        if key in ("expect", "may-fail"):
            getattr(header, key.replace("-", "_")).extend(value.split("(")[0].split())
        elif key == "message":
            test, _, text = value.partition(": ")
            header.messages.append((test, text))
        elif getattr(header, key) is None:      # the first one counts
            setattr(header, key, value)
    return header

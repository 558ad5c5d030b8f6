"""Machine-readable grading results: the JSON of `make grade RESULTS=...` and the JUnit XML
of `make grade JUNIT=...`, written by grade.py from its rows [(item, result, scored)].

    report.test_entries(rows)   # [{name, verdict, points, max, wall_s, failure, log}]
    report.results(rows, wall_s)   # {"score", "max", "wall_s", "tests": [...]}
    report.junit(rows, wall_s)     # JUnit XML text, one <testcase> per rubric test

The official grade (official.py), batch.py and the Gradescope results all read the JSON
form, so a test's fields are defined here once.
"""

import json
import xml.etree.ElementTree as ET

from .log import Verdict

SUITE = "project3"


def first_line(text):
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def test_entries(rows):
    return [{
        "name": item.name,
        "verdict": str(scored.verdict),
        "points": scored.earned,
        "max": item.points,
        "wall_s": round(result.wall_s, 3),
        "failure": first_line(scored.detail),
        "log": str(result.log_path) if result.log_path else None,
    } for item, result, scored in rows]


def results(rows, wall_s):
    tests = test_entries(rows)
    return {
        "score": sum(t["points"] for t in tests),
        "max": sum(t["max"] for t in tests),
        "wall_s": round(wall_s, 3),
        "tests": tests,
    }


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def junit(rows, wall_s):
    """JUnit XML as CI systems render it: PASS is a plain testcase, SKIP <skipped>, ERROR
    <error>, every other verdict <failure> with the reason and the log's path."""
    tests = test_entries(rows)
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(tests)), time=f"{wall_s:.3f}")
    counts = {"failure": 0, "error": 0, "skipped": 0}
    for t in tests:
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{t['name'].split('.')[0]}",
                             name=t["name"], time=f"{t['wall_s']:.3f}")
        if t["verdict"] == str(Verdict.PASS):
            continue
        kind = {str(Verdict.SKIP): "skipped", str(Verdict.ERROR): "error"}.get(
            t["verdict"], "failure")
        counts[kind] += 1
        message = f"{t['verdict']}: {t['failure']}" if t["failure"] else t["verdict"]
        ET.SubElement(case, kind, message=message, type=t["verdict"]).text = \
            f"{message}\n0/{t['max']} points\nlog: {t['log']}"
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"

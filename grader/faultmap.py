#!/usr/bin/env python3
"""Print the fault maps of a KeOS serial log, or run a test first (`make faultmap`).

    grader/faultmap.py build/run.log                  # what `make run` ends with
    grader/faultmap.py --run pager.stress             # run it, print the maps, show the SVG
    grader/faultmap.py LOG --svg out.svg              # the first guest's map as SVG

The maps themselves: harness/faultmap.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.faultmap import main           # noqa: E402  (after the path fix above)

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Record a test run, replay it, replay it under gdb: `make record`, `make replay-gdb`.

The work is in harness/replay.py; see its docstring and handouts/debugging.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.replay import main             # noqa: E402  (after the path fix above)

if __name__ == "__main__":
    sys.exit(main())

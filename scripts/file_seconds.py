#!/usr/bin/env python3
"""Write tests/file_seconds.json, the seconds each test file took, from the output of a
whole-suite run with ``--durations=0``: tests/conftest.py hands the longest files to the
workers first, so that none runs alone at the end of ``make test``.

    make test PYTEST_ARGS=--durations=0 | tee /tmp/run.log
    .venv/bin/python scripts/file_seconds.py < /tmp/run.log
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "file_seconds.json"
LINE = re.compile(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)")


def main() -> int:
    seconds: collections.Counter[str] = collections.Counter()
    for line in sys.stdin:
        m = LINE.match(line)
        if m:
            seconds[m.group(2).split("::")[0]] += float(m.group(1))
    if not seconds:
        print("no durations in the input: run pytest with --durations=0", file=sys.stderr)
        return 2
    kept = {f: round(s) for f, s in sorted(seconds.items()) if s >= 2.0}
    OUT.write_text(json.dumps(kept, indent=0) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(kept)} files of 2 s or more, {round(sum(seconds.values()))} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Count how the misuse table's rows fail today: ``python tests/misuse/census.py``.

Prints, per area and in all, how many rows give a full 4-part netgrad error, one without a fix,
a partial one, a raw Python/torch error, or nothing at all.
"""

from __future__ import annotations

import collections
import importlib
import pathlib
import sys
import warnings

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

AREAS = ["layers", "nets", "evaluation", "gradients", "initialize", "io", "debug", "training"]


def main() -> None:
    from _misuse import classify
    total: collections.Counter = collections.Counter()
    for area in AREAS:
        rows = importlib.import_module(f"test_{area}").ROWS
        counts: collections.Counter = collections.Counter()
        for row in rows:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                counts[classify(row)] += 1
        total.update(counts)
        print(f"{area:12s} {sum(counts.values()):4d} rows  " +
              ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"{'all':12s} {sum(total.values()):4d} rows  " +
          ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


if __name__ == "__main__":
    main()

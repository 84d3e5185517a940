"""``python -m netgrad``: the demo (``--figures DIR`` writes its pictures there; default a new
temporary folder). ``python -m netgrad audit``: the adversarial gradient audit."""

from __future__ import annotations

import sys

import numpy as np

from .demo import run_demo, run_pictures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "audit":
        from ._audit import main as audit_main
        return audit_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    figures = None
    if len(argv) == 2 and argv[0] == "--figures":
        figures, argv = argv[1], []
    if argv:
        print(f"unknown command {argv[0]!r}; use `python -m netgrad [--figures DIR]` or "
              "`python -m netgrad audit`", file=sys.stderr)
        return 2
    np.set_printoptions(precision=4, suppress=True)
    run_demo()
    run_pictures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

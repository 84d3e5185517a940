"""Write the README's pictures: ``red_channel_gradient.png`` (Wolfram's NetPortGradient example:
a PoolingLayer chained to a PartLayer that extracts the red channel, on a generated test image)
and ``net_graph.png`` (a NetGraph with nested nets, drawn by ``netgrad.plot.net_graph``).

    python docs/figures/make_figures.py [FOLDER]      # default: this folder
"""

import pathlib
import sys

from netgrad.demo import write_figures


def main(argv: list[str]) -> int:
    folder = argv[0] if argv else pathlib.Path(__file__).resolve().parent
    for path in write_figures(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

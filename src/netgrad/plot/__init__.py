"""Pictures of nets, gradients and training: ``netgrad.plot``.

Every function returns a :class:`matplotlib.figure.Figure` (save it with
``fig.savefig("x.png")`` or ``"x.svg"``; in Jupyter it shows itself). matplotlib is imported
only when a picture is drawn, so ``import netgrad`` never needs it (``pip install
netgrad[plot]``).

* :func:`image`: an encoded image array (channel-first, as a port sees it) back to a picture;
* :func:`gradient_image`: a net's input gradient on an image, signed, in a diverging colour map
  beside the image;
* :func:`net_graph`: a net drawn as boxes (name, type, port shapes) and arrows;
* :func:`training_curves`: the loss and any measurement of a training run, per round
  (``TrainingResults.plot`` draws it).
"""

from __future__ import annotations

from ._graph import net_graph
from ._image import DIVERGING, gradient_image, image
from ._training import training_curves

__all__ = ["image", "gradient_image", "net_graph", "DIVERGING", "training_curves"]

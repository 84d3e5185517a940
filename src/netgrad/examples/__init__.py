"""Worked examples of gradients inside losses, each runnable as ``python -m
netgrad.examples.<name>`` and each trained against the same model in plain PyTorch:

* :mod:`.poisson`: a physics-informed net solving -u'' = f on (0, 1), u(0) = u(1) = 0 (the loss
  holds a second derivative of the net, through two nested NetPortGradientLayers);
* :mod:`.gradient_penalty`: the critic step of WGAN-GP, where some samples sit in a region in
  which the ReLU critic is flat (its input gradient is exactly 0): the textbook
  ``sqrt(sum(g**2))`` penalty is NaN there in PyTorch and trains in netgrad;
* :mod:`.sobolev`: Sobolev training, fitting a function's values and its derivatives.

The data are generated in the code (small, deterministic); nothing is downloaded.
"""

__all__ = ["poisson", "gradient_penalty", "sobolev"]

"""Sobolev training: fit a function's values *and* its derivatives.

The data are 40 points of f(x) = sin(2x) + x/2 on [-1, 2.5] with f'(x). The model is a small
tanh net u; the loss per example is (u - f)² + (u' - f')², where u' comes from
``NetPortGradientLayer(u, "Input")``, a port of the net, so ``netgrad.train`` fits it like any
other output. :func:`compare` trains the same model in plain PyTorch (``torch.autograd.grad``
with ``create_graph=True`` in a hand-written loop) from the same weights.

    python -m netgrad.examples.sobolev
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import train as netgrad_train
from ..gradient import NetPortGradient
from ..layers import FunctionLayer, LinearLayer
from ..net import NetChain, NetGraph, NetInitialize, NetPort, NetPortGradientLayer
from ._common import as_tensors, full_batch, to_torch, torch_adam

__all__ = ["data", "model", "loss_net", "train", "train_torch", "compare"]


def data(n: int = 40) -> dict[str, np.ndarray]:
    """``Input`` x, ``Value`` f(x), ``Slope`` f'(x), each ``(n, 1)`` float32."""
    x = np.linspace(-1.0, 2.5, n)[:, None]
    return {"Input": x.astype(np.float32),
            "Value": (np.sin(2 * x) + x / 2).astype(np.float32),
            "Slope": (2 * np.cos(2 * x) + 0.5).astype(np.float32)}


def model(seed: int = 0) -> Any:
    """u: 1 → 16 → 16 → 1 with tanh, initialized."""
    return NetInitialize(NetChain([LinearLayer(16), "Tanh", LinearLayer(16), "Tanh",
                                   LinearLayer(1)], input=1), seed=seed)


def loss_net(u: Any) -> NetGraph:
    """u, u' and the per-example Sobolev loss as the output port "Loss"."""
    fit = NetPortGradientLayer(u, "Input")
    loss = FunctionLayer(lambda u, du, f, df: (u - f) ** 2 + (du - df) ** 2)
    return NetGraph({"fit": fit, "loss": loss},
                    [(NetPort("fit", "Output"), NetPort("loss", "u")),
                     (NetPort("fit", "Gradient"), NetPort("loss", "du")),
                     (NetPort("Value"), NetPort("loss", "f")),
                     (NetPort("Slope"), NetPort("loss", "df")),
                     (NetPort("loss", "Output"), NetPort("Loss"))],
                    Input=1, Value=1, Slope=1)


def train(steps: int = 150, lr: float = 1e-2, seed: int = 0):
    """``(trained u, TrainingResults)`` by ``netgrad.train`` (full batch, Adam)."""
    d = data()
    net = loss_net(model(seed))
    res = netgrad_train(net, full_batch(d), loss="Loss", max_training_rounds=steps,
                        learning_rate=lr, seed=seed, progress=False, results=True)
    return res.net["fit"]["Net"], res


def train_torch(steps: int = 150, lr: float = 1e-2, seed: int = 0):
    """``(trained torch model, losses)``: the same model and loss in a plain PyTorch loop."""
    d = as_tensors(data())
    m = to_torch(model(seed))

    def loss():
        x = d["Input"].clone().requires_grad_(True)
        u = m(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        return ((u - d["Value"]) ** 2 + (du - d["Slope"]) ** 2).mean()
    return m, torch_adam(m, loss, steps, lr)


def compare(steps: int = 150, lr: float = 1e-2) -> dict[str, float]:
    """Train both; the largest difference of their fitted u and u' on a fine grid, and each
    one's last loss."""
    u, res = train(steps, lr)
    m, losses = train_torch(steps, lr)
    x = torch.linspace(-1, 2.5, 101)[:, None]
    ours, ours_d = u(x), u(x, NetPortGradient("Input"))
    xt = x.clone().requires_grad_(True)
    theirs = m(xt)
    (theirs_d,) = torch.autograd.grad(theirs.sum(), xt)
    return {"value_difference": float((ours - theirs).detach().abs().max()),
            "slope_difference": float((ours_d - theirs_d).abs().max()),
            "netgrad_loss": float(res.round_losses[-1]), "torch_loss": losses[-1],
            "skipped_steps": float(len(res.skipped_steps))}


if __name__ == "__main__":
    for k, v in compare().items():
        print(f"{k:18} {v:.3g}")  # noqa: T201

"""A physics-informed net for the 1-D Poisson problem -u'' = f on (0, 1), u(0) = u(1) = 0.

With f(x) = π² sin(πx) the solution is u(x) = sin(πx). The net u is a small tanh net; its
second derivative comes from two nested ``NetPortGradientLayer``s (the inner one's "Gradient"
port is differentiated again), and the loss per collocation point is

    wᵢ (u'' + f)² + w_b u²

with weights that make it the mean squared residual over the 32 interior points plus the mean
squared boundary value over the 2 boundary points. ``netgrad.train`` fits it; :func:`compare`
trains the same model in plain PyTorch (two ``torch.autograd.grad(..., create_graph=True)``)
from the same weights.

    python -m netgrad.examples.poisson
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np
import torch

from .. import train as netgrad_train
from ..layers import FunctionLayer, LinearLayer
from ..net import NetChain, NetGraph, NetInitialize, NetPort, NetPortGradientLayer
from ._common import as_tensors, full_batch, to_torch, torch_adam

__all__ = ["data", "model", "loss_net", "train", "train_torch", "compare"]


def data(interior: int = 32) -> dict[str, np.ndarray]:
    """Collocation points ``Input`` (interior, then 0 and 1), the source ``Source`` = f(x), and
    the per-point weights ``Interior`` and ``Boundary``; each ``(interior + 2, 1)`` float32."""
    n = interior + 2
    x = np.concatenate([np.linspace(0, 1, interior + 2)[1:-1], [0.0, 1.0]])[:, None]
    inside = np.arange(n)[:, None] < interior
    return {"Input": x.astype(np.float32),
            "Source": (math.pi ** 2 * np.sin(math.pi * x)).astype(np.float32),
            "Interior": np.where(inside, n / interior, 0.0).astype(np.float32),
            "Boundary": np.where(inside, 0.0, n / 2).astype(np.float32)}


def model(seed: int = 0) -> Any:
    """u: 1 → 16 → 16 → 1 with tanh, initialized."""
    return NetInitialize(NetChain([LinearLayer(16), "Tanh", LinearLayer(16), "Tanh",
                                   LinearLayer(1)], input=1), seed=seed)


def loss_net(u: Any) -> NetGraph:
    """u, u'' (port "Curvature") and the per-point loss as the output port "Loss"."""
    d2u = NetPortGradientLayer(NetPortGradientLayer(u, "Input"), "Input", output="Gradient",
                               name="Curvature")
    loss = FunctionLayer(lambda d2u, u, f, wi, wb: wi * (d2u + f) ** 2 + wb * u ** 2)
    return NetGraph({"u": d2u, "loss": loss},
                    [(NetPort("u", "Curvature"), NetPort("loss", "d2u")),
                     (NetPort("u", "Output"), NetPort("loss", "u")),
                     (NetPort("Source"), NetPort("loss", "f")),
                     (NetPort("Interior"), NetPort("loss", "wi")),
                     (NetPort("Boundary"), NetPort("loss", "wb")),
                     (NetPort("loss", "Output"), NetPort("Loss"))],
                    Input=1, Source=1, Interior=1, Boundary=1)


def train(steps: int = 200, lr: float = 1e-2, seed: int = 0):
    """``(trained u, TrainingResults)`` by ``netgrad.train`` (full batch, Adam)."""
    net = loss_net(model(seed))
    res = netgrad_train(net, full_batch(data()), loss="Loss", max_training_rounds=steps,
                        learning_rate=lr, seed=seed, progress=False, results=True)
    return res.net["u"]["Net"]["Net"], res


def train_torch(steps: int = 200, lr: float = 1e-2, seed: int = 0):
    """``(trained torch model, losses)``: the same model and loss in a plain PyTorch loop."""
    d = as_tensors(data())
    m = to_torch(model(seed))

    def loss():
        x = d["Input"].clone().requires_grad_(True)
        u = m(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        (d2u,) = torch.autograd.grad(du.sum(), x, create_graph=True)
        return (d["Interior"] * (d2u + d["Source"]) ** 2 + d["Boundary"] * u ** 2).mean()
    return m, torch_adam(m, loss, steps, lr)


def compare(steps: int = 200, lr: float = 1e-2) -> dict[str, float]:
    """Train both; the largest difference of their u on a fine grid, each one's distance from
    the exact solution sin(πx), and each one's last loss."""
    u, res = train(steps, lr)
    m, losses = train_torch(steps, lr)
    x = torch.linspace(0, 1, 101)[:, None]
    exact = torch.sin(math.pi * x)
    ours, theirs = u(x).detach(), m(x).detach()
    return {"difference": float((ours - theirs).abs().max()),
            "netgrad_error": float((ours - exact).abs().max()),
            "torch_error": float((theirs - exact).abs().max()),
            "netgrad_loss": float(res.round_losses[-1]), "torch_loss": losses[-1],
            "skipped_steps": float(len(res.skipped_steps))}


if __name__ == "__main__":
    for k, v in compare().items():
        print(f"{k:14} {v:.3g}")  # noqa: T201

"""The critic step of WGAN-GP, where some samples have a critic gradient of exactly 0.

The critic D is a small ReLU net; its loss per sample is

    w D(x) + λ p (‖∇ₓD(x)‖ - 1)²,    ‖g‖ = sqrt(Σ g²)  (the textbook formula)

with w = -1 on real samples, +1 on generated ones and 0 on the interpolates between them
(where p = 1): the mean is WGAN-GP's critic loss up to a factor. The critic starts with its
first layer's biases at -1, so near the origin every ReLU is off and D is flat: there ∇ₓD = 0,
the derivative of sqrt at 0 is infinite, and PyTorch's gradient of the penalty is NaN (the
first step of :func:`train_torch_textbook` is NaN). In netgrad the same formula keeps the
gradient contract (0·inf = 0 where the zero is exact): it trains, and matches PyTorch written
with ``g.norm(2, dim=1)``, whose backward has the same convention at 0.

The real samples lie on a circle of radius 2, the generated ones in a blob at (3, 3), and the
interpolates on the segments between them, with a few at the origin.

    python -m netgrad.examples.gradient_penalty
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np
import torch

from .. import train as netgrad_train
from ..gradient import NetPortGradient
from ..layers import FunctionLayer, LinearLayer
from ..net import NetChain, NetGraph, NetInitialize, NetPort, NetPortGradientLayer
from ._common import as_tensors, full_batch, to_torch, torch_adam

__all__ = ["data", "model", "loss_net", "train", "train_torch", "train_torch_textbook",
           "compare", "PENALTY"]

PENALTY = 10.0


def data(n: int = 24, seed: int = 0) -> dict[str, np.ndarray]:
    """``Input`` (3n + 4 samples, 2), ``Weight`` (w above) and ``Penalty`` (λp above)."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * math.pi, n)
    real = 2 * np.stack([np.cos(angle), np.sin(angle)], 1)
    fake = 3 + 0.3 * rng.standard_normal((n, 2))
    eps = rng.uniform(0, 1, (n, 1))
    mixed = np.concatenate([eps * real + (1 - eps) * fake, np.zeros((4, 2))])
    x = np.concatenate([real, fake, mixed])
    w = np.concatenate([-np.ones(n), np.ones(n), np.zeros(n + 4)])[:, None]
    p = np.concatenate([np.zeros(2 * n), np.full(n + 4, PENALTY)])[:, None]
    return {"Input": x.astype(np.float32), "Weight": w.astype(np.float32),
            "Penalty": p.astype(np.float32)}


def model(seed: int = 0) -> Any:
    """D: 2 → 32 → 32 → 1 with Ramp, first-layer biases -1 (flat near the origin)."""
    critic: Any = NetInitialize(NetChain([LinearLayer(32), "Ramp", LinearLayer(32), "Ramp",
                                          LinearLayer(1)], input=2), seed=seed)
    with torch.no_grad():
        critic["0"].Biases.fill_(-1.0)
    return critic


def loss_net(critic: Any) -> NetGraph:
    """D, ∇ₓD and the per-sample loss (textbook ‖·‖) as the output port "Loss"."""
    grad = NetPortGradientLayer(critic, "Input")
    loss = FunctionLayer(lambda d, g, w, p: w * d + p * (torch.sqrt((g * g).sum(1, keepdim=True))
                                                          - 1) ** 2)
    return NetGraph({"critic": grad, "loss": loss},
                    [(NetPort("critic", "Output"), NetPort("loss", "d")),
                     (NetPort("critic", "Gradient"), NetPort("loss", "g")),
                     (NetPort("Weight"), NetPort("loss", "w")),
                     (NetPort("Penalty"), NetPort("loss", "p")),
                     (NetPort("loss", "Output"), NetPort("Loss"))],
                    Input=2, Weight=1, Penalty=1)


def zero_gradient_samples(critic: Any, x: np.ndarray) -> int:
    """How many samples have ∇ₓD exactly 0."""
    g = critic(x, NetPortGradient("Input"))
    return int((np.abs(g).sum(1) == 0).sum())


def train(steps: int = 100, lr: float = 1e-3, seed: int = 0):
    """``(trained critic, TrainingResults)`` by ``netgrad.train`` (full batch, Adam)."""
    net = loss_net(model(seed))
    res = netgrad_train(net, full_batch(data()), loss="Loss", max_training_rounds=steps,
                        learning_rate=lr, seed=seed, progress=False, results=True)
    return res.net["critic"]["Net"], res


def _torch_loss(m, d, norm):
    def loss():
        x = d["Input"].clone().requires_grad_(True)
        y = m(x)
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        return (d["Weight"] * y + d["Penalty"] * (norm(g) - 1) ** 2).mean()
    return loss


def train_torch(steps: int = 100, lr: float = 1e-3, seed: int = 0):
    """The same critic step in plain PyTorch with ``g.norm(2, dim=1)`` (finite at 0)."""
    d = as_tensors(data())
    m = to_torch(model(seed))
    return m, torch_adam(m, _torch_loss(m, d, lambda g: g.norm(2, dim=1, keepdim=True)), steps,
                         lr)


def train_torch_textbook(steps: int = 1, lr: float = 1e-3, seed: int = 0):
    """The same in plain PyTorch with the textbook ``sqrt(sum(g**2))``: ``(model, losses,
    whether a gradient was NaN at the first step)``."""
    d = as_tensors(data())
    m = to_torch(model(seed))
    loss = _torch_loss(m, d, lambda g: torch.sqrt((g * g).sum(1, keepdim=True)))()
    loss.backward()
    nan = any(p.grad is not None and bool(torch.isnan(p.grad).any()) for p in m.parameters())
    return m, [loss.item()], nan


def compare(steps: int = 100, lr: float = 1e-3) -> dict[str, float]:
    """Train netgrad (textbook formula) and PyTorch (norm); the largest difference of their
    critics on the data, each one's last loss, and whether the textbook formula is NaN in
    PyTorch."""
    d = data()
    critic, res = train(steps, lr)
    m, losses = train_torch(steps, lr)
    x = torch.as_tensor(d["Input"])
    ours, theirs = critic(x).detach(), m(x).detach()
    return {"difference": float((ours - theirs).abs().max()),
            "zero_gradient_samples_at_start": float(zero_gradient_samples(model(), d["Input"])),
            "netgrad_loss": float(res.round_losses[-1]), "torch_loss": losses[-1],
            "skipped_steps": float(len(res.skipped_steps)),
            "torch_textbook_nan": float(train_torch_textbook()[2])}


if __name__ == "__main__":
    for k, v in compare().items():
        print(f"{k:32} {v:.3g}")  # noqa: T201

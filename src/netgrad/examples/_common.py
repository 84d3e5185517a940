"""What the examples share: the same chain as a plain torch module, and the training loop
they are compared with."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..layers import ElementwiseLayer, LinearLayer
from ..net import NetChain

__all__ = ["to_torch", "torch_adam", "as_tensors", "full_batch"]

_ACTIVATIONS = {"Tanh": torch.nn.Tanh, "Ramp": torch.nn.ReLU}


def to_torch(chain: NetChain) -> torch.nn.Sequential:
    """A NetChain of LinearLayers and Tanh/Ramp as ``torch.nn.Sequential``, same weights."""
    mods: list[torch.nn.Module] = []
    for name in chain.vertex_names():
        layer = chain[name]
        if isinstance(layer, LinearLayer) and layer.Weights is not None and \
                layer.Biases is not None:
            w, b = layer.Weights.detach(), layer.Biases.detach()
            lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            mods.append(lin)
        elif isinstance(layer, ElementwiseLayer) and layer.function in _ACTIVATIONS:
            mods.append(_ACTIVATIONS[layer.function]())
        else:
            raise TypeError(f"to_torch knows LinearLayer, Tanh and Ramp; got {layer!r}")
    return torch.nn.Sequential(*mods)


def full_batch(data: Mapping[str, np.ndarray]) -> Callable[[dict], list]:
    """Training data for ``netgrad.train`` as one batch of every example per round, in a fixed
    order (so the comparison with a plain loop is step for step: in-memory data would be
    shuffled, which changes sums in their last bit)."""
    batch = as_tensors(data)
    return lambda info: [batch]


def as_tensors(data: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in data.items()}


def torch_adam(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], steps: int,
               lr: float) -> list[float]:
    """Full-batch Adam, as ``netgrad.train(..., batch_size=all, method="ADAM")`` does it:
    the losses of every step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses

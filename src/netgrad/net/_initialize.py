"""NetInitialize: give a net's learned arrays their first values."""

from __future__ import annotations

import copy

import torch

from .._errors import NetTypeError, NetValueError, ShapeError, describe_location
from .._module import NetModule

__all__ = ["NetInitialize", "METHODS"]

METHODS = ("Kaiming", "Xavier", "Orthogonal", "Random")


def NetInitialize(net: NetModule, method: str = "Kaiming", *, seed: int | None = None,
                  reinitialize: bool = False) -> NetModule:
    """Return a copy of ``net`` whose uninitialized arrays have values.

    Args:
        net: a layer or a net.
        method: ``"Kaiming"`` (normal, std √(2/fan_in); the default, for Ramp nets),
            ``"Xavier"`` (uniform, ±√(6/(fan_in+fan_out))), ``"Orthogonal"``, or ``"Random"``
            (standard normal). Biases start at 0.
        seed: makes the values reproducible.
        reinitialize: give every array new values, not just the uninitialized ones.

    The argument itself is not changed.
    """
    if not isinstance(net, NetModule):
        raise NetTypeError("NetInitialize takes a netgrad layer or net",
                           got=f"got {type(net).__name__}")
    if method not in METHODS:
        raise NetValueError(f"the initialization method is one of {list(METHODS)}",
                            where="NetInitialize", got=f"got {method!r}")
    unknown = [(path, layer) for path, layer, name in net.named_arrays()
               if getattr(layer, name) is None]
    if unknown:
        path, layer = unknown[0]
        raise ShapeError("the shape of every array must be known to initialize it",
                         where=describe_location(path[:-1], type(layer).__name__, array=path[-1]),
                         got="got an array whose shape depends on an unknown input shape",
                         fix="declare the input shape, e.g. NetChain([...], input=3) or "
                             "LinearLayer(n, input=3)")
    out = copy.deepcopy(net)
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    seen: set[int] = set()
    for _, layer, _ in out.named_arrays():
        if id(layer) not in seen:
            seen.add(id(layer))
            device = next((p.device for p in layer.parameters()), torch.device("cpu"))
            if device.type != "cpu":
                layer.to("cpu")
                layer.initialize_arrays(method, generator, reinitialize)
                layer.to(device)
            else:
                layer.initialize_arrays(method, generator, reinitialize)
    return out

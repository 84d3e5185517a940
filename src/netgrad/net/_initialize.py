"""NetInitialize: give a net's learned arrays their first values."""

from __future__ import annotations

import copy

import torch

from .._errors import NetTypeError, NetValueError, ShapeError, describe_location, did_you_mean
from .._stale import supersede
from .._module import NetModule

__all__ = ["NetInitialize", "METHODS"]

METHODS = ("Kaiming", "Xavier", "Orthogonal", "Random")


_ALIASES = {"he": "Kaiming", "kaiming_normal": "Kaiming", "glorot": "Xavier",
            "xavier_uniform": "Xavier", "normal": "Random", "randn": "Random"}


def NetInitialize(net: NetModule, method: str = "Kaiming", *, seed: int | None = None,
                  reinitialize: bool = False, in_place: bool = False) -> NetModule:
    """Return a copy of ``net`` whose uninitialized arrays have values.

    Args:
        net: a layer or a net.
        method: ``"Kaiming"`` (normal, std √(2/fan_in); the default, for Ramp nets),
            ``"Xavier"`` (uniform, ±√(6/(fan_in+fan_out))), ``"Orthogonal"``, or ``"Random"``
            (standard normal). Biases start at 0.
        seed: an int that makes the values reproducible.
        reinitialize: give every array new values, not just the uninitialized ones.
        in_place: initialize ``net`` itself and return it (its parameter tensors stay the
            same objects, so an optimizer built on them before keeps working).

    Without ``in_place`` the argument is not changed; an optimizer that was built on its
    arrays and is stepped later warns (:class:`netgrad.StaleArraysWarning`), since it trains
    arrays the returned copy does not use.
    """
    if not isinstance(net, NetModule):
        raise NetTypeError("NetInitialize takes a netgrad layer or net", where="NetInitialize",
                           got=f"got {type(net).__name__}",
                           fix="build the model from netgrad layers (NetChain([...])); torch "
                               "modules initialize themselves")
    if method not in METHODS:
        raise NetValueError(f"the initialization method is one of {list(METHODS)}",
                            where="NetInitialize", got=f"got {method!r}",
                            fix=did_you_mean(method, METHODS, aliases=_ALIASES))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise NetTypeError("seed is an int (or None for fresh random values)",
                           where="NetInitialize", got=f"got {type(seed).__name__} {seed!r}",
                           fix="e.g. NetInitialize(net, seed=0)")
    for name, flag in (("reinitialize", reinitialize), ("in_place", in_place)):
        if not isinstance(flag, bool):
            raise NetTypeError(f"{name} is True or False", where="NetInitialize",
                               got=f"got {type(flag).__name__} {flag!r}",
                               fix=f"NetInitialize(net, {name}=True)")
    unknown = [(path, layer) for path, layer, name in net.named_arrays()
               if layer.array_state(name) == "absent"]
    if unknown:
        path, layer = unknown[0]
        raise ShapeError("the shape of every array must be known to initialize it",
                         where=describe_location(path[:-1], type(layer).__name__, array=path[-1]),
                         got="got an array whose shape depends on an unknown input shape",
                         fix="declare the input shape, e.g. NetChain([...], input=3) or "
                             "LinearLayer(n, input=3)")
    changed = [getattr(layer, name) for _, layer, name in net.named_arrays()
               if reinitialize or layer.array_state(name) != "set"]
    out = net if in_place else copy.deepcopy(net)
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
    if not in_place:
        supersede(changed, "the copy NetInitialize returned")
    return out

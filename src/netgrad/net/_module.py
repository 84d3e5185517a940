"""What layers and nets have in common: named ports, learned arrays, and Wolfram-style calls.

A :class:`NetModule` is a :class:`torch.nn.Module`. Two ways to call one:

* **Wolfram style**, ``net(data)``, ``net(data, NetPortGradient("Input"))``,
  ``net(data, precision="float64")``: ``data`` is an array-like (one input port) or a dict of
  port names to data; lists and NumPy in give NumPy out, torch tensors in give tensors out; data
  whose rank is one more than the port's declared shape is a batch. See
  :func:`netgrad.net._evaluate.evaluate`.
* **PyTorch style**, ``net.forward(x)`` or ``net(x, target)`` with two or more tensors: batched
  tensors in port order, a tensor (one output port) or a dict of tensors out. This is what a
  net's vertices call, and what forward hooks see.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from .._errors import NetKeyError, UninitializedError, describe_location
from ._shapes import MaybeShape

__all__ = ["NetModule"]


class NetModule(torch.nn.Module):
    """Base class of layers (:class:`netgrad.layers.Layer`) and nets (NetGraph, NetChain)."""

    # ---- ports ---------------------------------------------------------------------------
    def input_names(self) -> tuple[str, ...]:
        """Names of the input ports, in the order :meth:`forward` takes them."""
        raise NotImplementedError

    def output_names(self) -> tuple[str, ...]:
        """Names of the output ports, in order."""
        raise NotImplementedError

    def port_shape(self, port: str) -> MaybeShape:
        """Per-example shape of a port (``None`` while unknown)."""
        raise NotImplementedError

    def declared_shape(self, port: str) -> MaybeShape:
        """The shape this module itself requires of an input port."""
        return self.port_shape(port)

    def encoders(self) -> dict[str, Any]:
        """The :class:`~netgrad.encoders.NetEncoder` of each input port that has one."""
        return {}

    def decoders(self) -> dict[str, Any]:
        """The :class:`~netgrad.encoders.NetDecoder` of each output port that has one."""
        return {}

    def integer_ports(self) -> frozenset[str]:
        """Input ports that take integers (class indices); they have no gradient."""
        return frozenset()

    def infer(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        """Output shapes for the given per-example input shapes, without changing anything.

        Raises :class:`~netgrad.ShapeError` when the shapes do not fit.
        """
        raise NotImplementedError

    def complete_inputs(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        """Fill in input shapes implied by the others (a loss's Target from its Input); pure."""
        return dict(shapes)

    def bind(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        """Like :meth:`infer`, but records the shapes (and creates arrays whose shape is now known)."""
        raise NotImplementedError

    # ---- arrays --------------------------------------------------------------------------
    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], "NetModule", str]]:
        """Every learned array: ``(path, layer, array name)``; path ends with the array name."""
        raise NotImplementedError

    def uninitialized_arrays(self) -> list[tuple[tuple[str, ...], str]]:
        """``(path, layer type)`` of arrays that have no values yet."""
        return [(path, type(layer).__name__) for path, layer, name in self.named_arrays()
                if name in layer._uninitialized]

    def check_initialized(self) -> None:
        missing = self.uninitialized_arrays()
        if missing:
            path, kind = missing[0]
            where = describe_location(path[:-1], kind, array=path[-1])
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UninitializedError(
                "learned arrays need values before the net can be evaluated",
                where=where, got=f"array {'/'.join(path)} is not initialized{more}",
                fix="net = netgrad.NetInitialize(net), or give the arrays values "
                    "(e.g. LinearLayer(3, weights=..., biases=...)), or train it with netgrad.train")

    # ---- running -------------------------------------------------------------------------
    def run_ports(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Batched tensors in by port name, batched tensors out by port name (fires hooks)."""
        try:
            args = [inputs[p] for p in self.input_names()]
        except KeyError as e:
            raise NetKeyError(f"input port {e.args[0]!r} was not given",
                              where=type(self).__name__,
                              got=f"got ports {sorted(inputs)}",
                              fix=f"give all of {list(self.input_names())}") from None
        out = torch.nn.Module.__call__(self, *args)
        if isinstance(out, Mapping):
            return dict(out)
        (name,) = self.output_names()
        return {name: out}

    def __call__(self, *args, **kwargs):
        if len(args) >= 2 and isinstance(args[1], torch.Tensor) or (
                kwargs and set(kwargs) <= set(self.input_names())):
            # PyTorch style: batched tensors by position or by port name.
            if kwargs:
                return self.run_ports_or_single(kwargs)
            return torch.nn.Module.__call__(self, *args)
        from ._evaluate import evaluate
        if self.encoders() or self.decoders():
            from ..encoders._attach import evaluate_with_coders
            return evaluate_with_coders(self, evaluate, *args, **kwargs)
        return evaluate(self, *args, **kwargs)

    def run_ports_or_single(self, inputs):
        out = self.run_ports(inputs)
        return next(iter(out.values())) if len(out) == 1 else out

    # ---- helpers for subclasses ------------------------------------------------------------
    def _device_dtype(self) -> tuple[torch.device, torch.dtype | None]:
        for p in self.parameters():
            return p.device, p.dtype
        for b in self.buffers():
            return b.device, None
        return torch.device("cpu"), None

    def __repr__(self) -> str:
        from ._summary import summary
        return summary(self)

    def _repr_html_(self) -> str:
        """Jupyter shows a net as a table (the summary's rows)."""
        from ._summary import summary_html
        return summary_html(self)

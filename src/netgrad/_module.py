"""What layers and nets have in common: named ports, learned arrays, and Wolfram-style calls.

A :class:`NetModule` is a :class:`torch.nn.Module`. Two ways to call one:

* **Wolfram style**, ``net(data)``, ``net(data, NetPortGradient("Input"))``,
  ``net(data, precision="float64")``: ``data`` is an array-like (one input port) or a dict of
  port names to data; lists and NumPy in give NumPy out, torch tensors in give tensors out; data
  whose rank is one more than the port's declared shape is a batch. See
  :func:`netgrad.net._evaluate.evaluate`.
* **PyTorch style**, ``net.forward(x)`` or ``net(x, target)`` with two or more tensors: batched
  tensors in port order, a tensor (one output port) or a dict of tensors out. This is what a
  net's vertices call, and what forward hooks see. Padded sequences take their lengths as a
  keyword: ``net(x, lengths=...)`` (see :meth:`NetModule.run_sequences`).

This module sits below the layers and the nets (it imports neither): a Wolfram-style call goes
to the evaluator that :mod:`netgrad.net` registers with :func:`register_evaluator`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from ._errors import NetKeyError, ShapeError, UninitializedError, describe_location
from ._shapes import MaybeShape, fmt_shape

__all__ = ["NetModule", "register_evaluator"]

_evaluator: Callable[..., Any] | None = None


def register_evaluator(evaluate: Callable[..., Any]) -> None:
    """Set the function behind Wolfram-style calls (``netgrad.net`` registers ``evaluate``)."""
    global _evaluator
    _evaluator = evaluate


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

    # ---- structure -----------------------------------------------------------------------
    def vertex_names(self) -> list[str]:
        """Names of the vertices of a net, in order; ``[]`` for a layer."""
        return []

    def vertex_name(self, ref: str | int) -> str:
        """The name of the vertex ``ref`` (a name or a 0-based position); layers have none."""
        raise NetKeyError(f"{type(self).__name__} is a layer, so it has no vertex {ref!r}",
                          where=type(self).__name__, got=f"got {ref!r}",
                          fix="vertices belong to NetGraph and NetChain")

    def set_arity(self, n: int) -> None:
        """For layers with ``Input1 … Inputn``: the number of inputs (others refuse)."""
        raise NetKeyError(f"{type(self).__name__} takes a fixed set of inputs "
                          f"{list(self.input_names())}", where=type(self).__name__,
                          got=f"got {n} inputs", fix="connect one source to each input port")

    def vertex(self, ref: str | int) -> NetModule:
        """The vertex ``ref`` (a name or a 0-based position) of a net; layers have none."""
        raise NetKeyError(f"{type(self).__name__} is a layer, so it has no vertex {ref!r}",
                          where=type(self).__name__, got=f"got {ref!r}",
                          fix="vertices belong to NetGraph and NetChain")

    # ---- arrays --------------------------------------------------------------------------
    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], Any, str]]:
        """Every learned array: ``(path, layer, array name)``; path ends with the array name."""
        raise NotImplementedError

    def uninitialized_arrays(self) -> list[tuple[tuple[str, ...], str]]:
        """``(path, layer type)`` of arrays that have no values yet."""
        return [(path, type(layer).__name__) for path, layer, name in self.named_arrays()
                if layer.array_state(name) != "set"]

    def is_initialized(self) -> bool:
        """True when every learned array has values."""
        return not self.uninitialized_arrays()

    def check_initialized(self) -> None:
        """Raise :class:`~netgrad.UninitializedError` naming the first array without values."""
        missing = self.uninitialized_arrays()
        if missing:
            raise uninitialized_error(missing, type(self).__name__)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """torch's ``load_state_dict``, after checking every shape first: a state dict that
        does not fit raises :class:`~netgrad.ShapeError` and changes nothing."""
        own = self.state_dict()
        for key, value in state_dict.items():
            have = own.get(key)
            if isinstance(value, torch.Tensor) and isinstance(have, torch.Tensor) and \
                    value.shape != have.shape:
                *path, name = key.split(".")
                path = [p for p in path if p != "vertices"]
                where = describe_location(tuple(path), None, array=name)
                raise ShapeError(f'array "{name}" has shape {fmt_shape(tuple(have.shape))}',
                                 where=f"{type(self).__name__} › {where}",
                                 got=f"got {fmt_shape(tuple(value.shape))} for {key!r}",
                                 fix="load a state dict saved from a net with the same sizes "
                                     "(compare net.state_dict() shapes)")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ---- running -------------------------------------------------------------------------
    def run_ports(self, inputs: Mapping[str, torch.Tensor],
                  lengths: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Batched tensors in by port name, batched tensors out by port name (fires hooks).

        ``lengths``: for sequence ports (a ``Varying`` first dimension), ``{port: (batch,)
        int64}``, the length of each padded sequence (see :meth:`run_sequences`).
        """
        if lengths:
            return self.run_sequences(inputs, lengths)[0]
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

    def run_sequences(self, inputs: Mapping[str, torch.Tensor],
                      lengths: Mapping[str, torch.Tensor]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Like :meth:`run_ports` for padded batches of sequences (``(batch, max_length, ...)``
        at ports of shape ``(Varying, ...)``): ``lengths`` maps each sequence input port to its
        ``(batch,)`` lengths; returns the outputs by port and the lengths of the sequence
        outputs."""
        raise NotImplementedError

    def optional_inputs(self) -> tuple[str, ...]:
        """Input ports that exist only when connected (a recurrent layer's initial state)."""
        return ()

    def optional_outputs(self) -> tuple[str, ...]:
        """Output ports that exist only when connected (a recurrent layer's final state)."""
        return ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) >= 2 and isinstance(args[1], torch.Tensor) or (
                kwargs and set(kwargs) <= set(self.input_names())):
            # PyTorch style: batched tensors by position or by port name.
            if kwargs and not args:
                return self.run_ports_or_single(kwargs)
            # tensors by position, with keywords of forward (net(x, state, lengths=n))
            return torch.nn.Module.__call__(self, *args, **kwargs)
        if "lengths" in kwargs and args and isinstance(args[0], torch.Tensor):
            # PyTorch style for padded sequences: net(x, lengths=...)
            return torch.nn.Module.__call__(self, *args, **kwargs)
        if _evaluator is None:  # pragma: no cover - importing netgrad registers it
            raise RuntimeError("netgrad.net is not imported, so nets cannot be evaluated")
        return _evaluator(self, *args, **kwargs)

    def run_ports_or_single(self, inputs: Mapping[str, torch.Tensor]) -> Any:
        out = self.run_ports(inputs)
        return next(iter(out.values())) if len(out) == 1 else out

    # ---- printing ------------------------------------------------------------------------
    def ports_text(self) -> str:
        """``Input (3,) → Output (2,)``: the ports with their shapes."""
        ins = ", ".join(f"{p} {fmt_shape(self.port_shape(p))}" for p in self.input_names())
        outs = ", ".join(f"{p} {fmt_shape(self.port_shape(p))}" for p in self.output_names())
        return f"{ins} → {outs}"

    def summary_lines(self) -> list[str]:
        """The lines ``print(net)`` shows (layers, ports and arrays with shapes)."""
        return [f"{type(self).__name__}  {self.ports_text()}"]

    def summary_rows(self, path: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """One row per layer (nested nets flattened, paths joined by "/"): vertex, layer,
        inputs, outputs, arrays (a net's rows are its vertices' rows)."""
        return [row for v in self.vertex_names()
                for row in self.vertex(v).summary_rows(path + (v,))]

    def __repr__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        """Jupyter shows a net as a table (the summary's rows)."""
        from ._html import summary_html
        return summary_html(self)

    # ---- helpers for subclasses ------------------------------------------------------------
    def _device_dtype(self) -> tuple[torch.device, torch.dtype | None]:
        for p in self.parameters():
            return p.device, p.dtype
        for b in self.buffers():
            return b.device, None
        return torch.device("cpu"), None


def uninitialized_error(missing: list[tuple[tuple[str, ...], str]], prefix: str | None = None
                        ) -> UninitializedError:
    """The error for arrays without values: ``missing`` is ``[(path, layer type), ...]``."""
    path, kind = missing[0]
    where = describe_location(path[:-1], kind, array=path[-1]) if path[:-1] else \
        f'{kind}, array "{path[-1]}"'
    if prefix and path[:-1]:
        where = f"{prefix} › {where}"
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return UninitializedError(
        "learned arrays need values before the net can be evaluated",
        where=where, got=f"array {'/'.join(path)} is not initialized{more}",
        fix="net = netgrad.NetInitialize(net), or give the arrays values "
            "(e.g. LinearLayer(3, weights=..., biases=...)), or train it with netgrad.train")

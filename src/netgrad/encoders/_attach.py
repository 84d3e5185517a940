"""Encoders and decoders on a net's ports: port specs at construction, data through the encoders
before evaluation, outputs through the decoders after, and training data through both.

* :func:`split_port_specs`: ``NetGraph(..., Input=NetEncoder(...), Output=NetDecoder(...))``
  → shapes, encoders, decoders;
* :func:`prepare_request` and :meth:`CodedRequest.decode`: what the evaluation record
  (``netgrad.net._record``) does for a net with encoders or decoders: ``net(data)``,
  ``net(data, "Probabilities")``, ``net(data, NetPortGradient("Input"))``;
* :func:`training_coders` and :func:`encode_ports`: the trainer's hook (inputs through the
  net's encoders; targets of a decoded output through the decoder, e.g. labels → indices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._errors import NetgradError, NetKeyError, NetValueError, ShapeError
from ._base import NetDecoder, NetEncoder, short_repr

__all__ = ["split_port_specs", "check_placement", "check_coders", "inherited_coders",
           "CodedRequest", "prepare_request",
           "training_coders", "encode_ports"]


def split_port_specs(ports: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, NetEncoder],
                                                         dict[str, NetDecoder]]:
    """Port options → (shapes, encoders, decoders); an encoder declares its port's shape (a
    decoder checks its port's shape once it is known, with an error that names the decoder)."""
    shapes: dict[str, Any] = {}
    encoders: dict[str, NetEncoder] = {}
    decoders: dict[str, NetDecoder] = {}
    for port, spec in ports.items():
        if isinstance(spec, NetEncoder):
            encoders[port] = spec
            shapes[port] = spec.shape
        elif isinstance(spec, NetDecoder):
            decoders[port] = spec
        else:
            shapes[port] = spec
    return shapes, encoders, decoders


def check_placement(net, encoders: Mapping[str, NetEncoder],
                    decoders: Mapping[str, NetDecoder]) -> None:
    """Encoders sit on input ports, decoders on output ports (checked before shapes are)."""
    kind = type(net).__name__
    ins, outs = list(net.input_names()), list(net.output_names())
    for coders, ports, side, other, others in ((encoders, ins, "an encoder", "input", outs),
                                               (decoders, outs, "a decoder", "output", ins)):
        for port, coder in coders.items():
            if port not in ports:
                swap = "put decoders (NetDecoder) on output ports" if other == "input" else \
                    "put encoders (NetEncoder) on input ports"
                raise NetKeyError(f"{side} sits on an {other} port; {kind} has {other}s {ports}",
                                  where=f'{kind}, port "{port}"', got=f"got {coder!r}",
                                  fix=swap if port in others else f"use one of {ports}")


def check_coders(net, encoders: Mapping[str, NetEncoder], decoders: Mapping[str, NetDecoder]) -> None:
    """Encoders sit on input ports, decoders on output ports whose shape they can read."""
    kind = type(net).__name__
    check_placement(net, encoders, decoders)
    for port, enc in encoders.items():
        have = net.port_shape(port)
        if enc.shape is not None and have is not None and tuple(have) != tuple(enc.shape):
            raise ShapeError(f"the encoder gives arrays of shape {enc.shape}",
                             where=f'{kind}, input port "{port}" ({enc!r})',
                             got=f"got a port of shape {tuple(have)}",
                             fix="make the encoder's size and channels fit the first layer")
    for port, dec in decoders.items():
        dec.check_shape(net.port_shape(port), f'{kind}, output port "{port}" ({dec!r})')


def inherited_coders(graph) -> tuple[dict[str, NetEncoder], dict[str, NetDecoder]]:
    """Coders a graph takes over from its vertices: a graph input that feeds a vertex port with
    an encoder gets it; a graph output read from a vertex port with a decoder gets that."""
    kind = type(graph).__name__
    encoders: dict[str, NetEncoder] = {}
    for (sv, sp), (dv, dp) in graph.edges():
        if sv is not None or dv is None:
            continue
        enc = graph.vertices[dv].encoders().get(dp)
        if enc is None:
            continue
        if sp in encoders and encoders[sp] != enc:
            raise NetValueError(f'graph input "{sp}" feeds vertices with different encoders',
                                where=f'{kind}, input port "{sp}"',
                                got=f"got {encoders[sp]!r} and {enc!r} (at \"{dv}\")",
                                fix=f"choose one: {kind}(..., {sp}=NetEncoder(...))")
        encoders[sp] = enc
    decoders: dict[str, NetDecoder] = {}
    for port in graph.output_names():
        v, vp = graph.output_source(port)
        dec = graph.vertices[v].decoders().get(vp)
        if dec is not None:
            decoders[port] = dec
    return encoders, decoders


# ---- evaluation ---------------------------------------------------------------------------------

def _encode(net, port: str, enc: NetEncoder, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value  # tensors are already encoded
    try:
        return enc.encode(value)[0]
    except NetgradError as e:
        raise e.located(f'{type(net).__name__}, port "{port}"') from None


def _decode(net, port: str, dec: NetDecoder, value: Any, prop: Any) -> Any:
    shape = net.port_shape(port)
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    batched = None if shape is None else a.ndim == len(shape) + 1
    try:
        return dec.decode(a, prop, batched=batched)
    except NetgradError as e:
        raise e.located(f'{type(net).__name__}, output port "{port}"') from None


def _property_port(net, decoders: Mapping[str, NetDecoder], prop: Any) -> str:
    kind = type(net).__name__
    if not decoders:
        raise NetKeyError(f"{kind} has no output port {short_repr(prop)}", where=kind,
                          got=f"got {short_repr(prop)}",
                          fix=f"output ports are {list(net.output_names())}; decoder properties "
                              "need a decoder: NetChain(..., output=NetDecoder(...))")
    if len(decoders) > 1:
        raise NetValueError("a decoder property needs one decoded output", where=kind,
                            got=f"got {short_repr(prop)} with decoders on {sorted(decoders)}",
                            fix="evaluate without a property and decode the port you want: "
                                f"net.decoders()[{sorted(decoders)[0]!r}](array, {short_repr(prop)})")
    return next(iter(decoders))


def _is_property(net, item: Any) -> bool:
    from ..gradient import NetPortGradient
    if isinstance(item, NetPortGradient):
        return False
    if isinstance(item, str):
        return item not in net.output_names()
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


@dataclass
class CodedRequest:
    """An evaluation request after the encoders: the data (encoded), the spec the evaluator
    gets (a decoder property becomes its output port), and :meth:`decode` for the result."""

    net: Any
    data: Any
    spec: Any
    decoders: dict[str, NetDecoder]
    prop: Any = None            # a decoder property asked for, e.g. "Probabilities"
    asked: Any = None           # the spec as the user gave it

    def decode(self, result: Any) -> Any:
        """The evaluator's result with the decoders applied (gradients stay arrays)."""
        net, decoders, spec = self.net, self.decoders, self.asked
        if not decoders:
            return result
        if self.prop is not None:
            return _decode(net, self.spec, decoders[self.spec], result, self.prop)
        if spec is None:
            if isinstance(result, dict):
                return {p: _decode(net, p, decoders[p], v, None) if p in decoders else v
                        for p, v in result.items()}
            (port,) = net.output_names()
            return _decode(net, port, decoders[port], result, None) if port in decoders else result
        if isinstance(spec, str):
            return _decode(net, spec, decoders[spec], result, None) if spec in decoders else result
        if isinstance(spec, (list, tuple)) and isinstance(result, dict):
            return {k: _decode(net, k, decoders[k], v, None) if isinstance(k, str) and k in decoders
                    else v for k, v in result.items()}
        return result


def prepare_request(net, data: Any, spec: Any = None, *, properties: bool = True) -> CodedRequest:
    """Apply ``net``'s encoders to ``data`` and (with ``properties``) turn a decoder property in
    ``spec`` into the output port it reads; the evaluation record then holds
    ``(request.data, request.spec)`` and ``request.decode(result)`` gives the user's values."""
    encoders, decoders = net.encoders(), net.decoders()
    names = net.input_names()
    if isinstance(data, Mapping):
        data = {k: _encode(net, k, encoders[k], v) if isinstance(k, str) and k in encoders else v
                for k, v in data.items()}
    elif len(names) == 1 and names[0] in encoders:
        data = _encode(net, names[0], encoders[names[0]], data)
    if properties and spec is not None and _is_property(net, spec):
        port = _property_port(net, decoders, spec)
        decoders[port].parse_property(spec)  # an unknown property fails before evaluating
        return CodedRequest(net, data, port, decoders, prop=spec, asked=spec)
    return CodedRequest(net, data, spec, decoders, asked=spec)


# ---- training -----------------------------------------------------------------------------------

def _target_encoder(dec: NetDecoder, shape: Any) -> Callable[[Any, bool], np.ndarray] | None:
    """What turns targets in a decoder's form into arrays: labels → indices, images → arrays."""
    from ._class import ClassDecoder
    from ._image import ImageDecoder, ImageEncoder
    from ._simple import BooleanDecoder, BooleanEncoder, ScalarDecoder
    if isinstance(dec, ClassDecoder):
        def labels(values: Any, batch: bool) -> np.ndarray:
            if batch:
                return np.asarray([dec.index(v) for v in values], dtype=np.int64)
            return np.asarray(dec.index(values), dtype=np.int64)
        return labels
    enc: NetEncoder
    if isinstance(dec, BooleanDecoder):
        enc = BooleanEncoder("Boolean")
    elif isinstance(dec, ImageDecoder) and shape is not None and len(shape) == 3:
        enc = ImageEncoder("Image", size=(shape[2], shape[1]),
                           color_space="Grayscale" if shape[0] == 1 else "RGB",
                           mean=dec.mean, variance=dec.variance)
    elif isinstance(dec, ScalarDecoder):
        return None  # numbers are numbers
    else:
        return None
    return lambda values, batch: enc.encode_batch(values) if batch else enc.encode_one(values)


def training_coders(net, target_ports: Mapping[str, str]) -> dict[str, Callable[[Any, bool], Any]]:
    """The trainer's hook: ``{data port: f(values, batch) -> array}``.

    Args:
        net: the net being trained (its encoders and decoders are used).
        target_ports: training-net target port → the output port of ``net`` it belongs to
            (e.g. ``{"Target": "Output"}``).

    Returns: for each input port with an encoder, and each target port whose output has a
    decoder that knows its targets' form (Class: labels → indices; Boolean: True/False → 1/0;
    Image: images → encoded arrays), a function of the port's values (``batch=True``: a list or
    array of examples; ``False``: one example) returning the encoded array. Tensors pass through
    unchanged (they are taken to be encoded already).
    """
    coders: dict[str, Callable[[Any, bool], Any]] = {}
    for port, enc in net.encoders().items():
        coders[port] = (lambda e: lambda values, batch:
                        e.encode_batch(values) if batch else e.encode_one(values))(enc)
    decoders = net.decoders()
    for target, output in target_ports.items():
        dec = decoders.get(output)
        if dec is not None:
            f = _target_encoder(dec, net.port_shape(output))
            if f is not None:
                coders[target] = f
    return coders


def encode_ports(coders: Mapping[str, Callable[[Any, bool], Any]], ports: Mapping[str, Any], *,
                 batch: bool, where: str = "netgrad.train, data") -> dict[str, Any]:
    """Apply :func:`training_coders`' functions to ``{port: values}`` (other ports unchanged)."""
    out = dict(ports)
    for port, f in coders.items():
        value = out.get(port)
        if value is None or isinstance(value, torch.Tensor):
            continue
        try:
            out[port] = f(value, batch)
        except NetgradError as e:
            raise e.located(f'{where}, port "{port}"') from None
    return out

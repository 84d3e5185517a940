"""Wolfram-style evaluation: ``net(data)`` and ``net(data, NetPortGradient(...))``.

* ``data``: an array-like for a net with one input port, or a dict of port names to data. A
  dict may also map ``NetPortGradient("Output")`` to an imposed output gradient.
* Data whose rank is one more than the port's declared shape is a batch; a port whose shape is
  not known takes the data as one example.
* Lists and NumPy in, NumPy out (a Python float for a scalar of one example); torch tensors in,
  torch tensors out, with autograd flowing through when no gradient is asked for.
* ``precision="float32"`` (default) or ``"float64"``; ``mode="Test"`` (default: dropout off) or
  ``"Train"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from ..debug import _provenance
from ..gradient import All, NetPortGradient, Target, all_gradient_specs, resolve_gradient
from ._shapes import describe_shape, fmt_shape

__all__ = ["evaluate"]

_PRECISIONS = {"float32": torch.float32, "float64": torch.float64, "Real32": torch.float32,
               "Real64": torch.float64}
_MODES = ("Test", "Train")


def _dtype(precision: Any) -> torch.dtype:
    if isinstance(precision, torch.dtype) and precision in (torch.float32, torch.float64):
        return precision
    if precision in _PRECISIONS:
        return _PRECISIONS[precision]
    raise NetValueError('precision is "float32" or "float64"', where="evaluation",
                        got=f"got {precision!r}")


def _split_data(net, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    kind = type(net).__name__
    inputs, imposed = {}, {}
    names = net.input_names()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, NetPortGradient):
                port = key.spec
                if not isinstance(port, str) or port not in net.output_names():
                    raise NetKeyError("an imposed gradient must name an output port",
                                      where=kind, got=f"got {key!r}",
                                      fix=f"output ports are {list(net.output_names())}")
                imposed[port] = value
            elif key in names:
                inputs[key] = value
            else:
                close = [n for n in names if str(key).lower() == n.lower()]
                raise NetKeyError(f"{kind} has no input port {key!r}", where=kind,
                                  got=f"got ports {list(map(str, data))}",
                                  fix=f"did you mean {close[0]!r}?" if close
                                  else f"its input ports are {list(names)}")
    else:
        if len(names) != 1:
            raise NetTypeError(f"{kind} has {len(names)} input ports, so data must be a dict",
                               where=kind, got=f"got {type(data).__name__}",
                               fix="net({" + ", ".join(f'"{n}": ...' for n in names) + "})")
        inputs[names[0]] = data
    missing = [n for n in names if n not in inputs]
    if missing:
        raise NetKeyError(f"data for input port {missing[0]!r} is missing", where=kind,
                          got=f"got ports {list(inputs)}", fix=f"give all of {list(names)}")
    return inputs, imposed


def _to_tensor(value: Any, dtype: torch.dtype, device: torch.device, where: str,
               integer: bool) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(np.asarray(value))
        except (ValueError, TypeError) as e:
            raise NetTypeError("data must be a number or a rectangular array", where=where,
                               got=f"got {type(value).__name__} ({e})") from None
    if integer:
        if t.is_floating_point():
            if not torch.equal(t, t.round()):
                raise NetValueError("expected integers (class indices)", where=where,
                                    got="got non-integer values")
        elif t.dtype == torch.bool or t.is_complex():
            raise NetTypeError("expected integers (class indices)", where=where,
                               got=f"got {t.dtype}")
        return t.to(device=device, dtype=torch.long)
    if t.is_complex():
        raise NetTypeError("expected real numbers", where=where, got=f"got {t.dtype}")
    return t.to(device=device, dtype=dtype)


def _batched(net, tensors: dict[str, torch.Tensor]) -> bool:
    kind = type(net).__name__
    decisions: dict[str, bool] = {}
    for port, t in tensors.items():
        shape = net.port_shape(port)
        if shape is None:
            continue
        if t.dim() == len(shape) + 1 and tuple(t.shape[1:]) == shape:
            decisions[port] = True
        elif tuple(t.shape) == shape:
            decisions[port] = False
        else:
            raise ShapeError(f"expected {describe_shape(shape)} (one example) or a batch of them",
                             where=f'{kind}, port "{port}"',
                             got=f"got data of shape {fmt_shape(tuple(t.shape))}")
    if len(set(decisions.values())) > 1:
        raise ShapeError("all ports must get one example, or all a batch", where=kind,
                         got="got " + ", ".join(f'{p}: {"batch" if b else "one example"}'
                                                for p, b in decisions.items()))
    batch = next(iter(decisions.values()), False)
    if batch:
        sizes = {p: t.shape[0] for p, t in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise ShapeError("every port must get the same number of examples", where=kind,
                             got=f"got batch sizes {sizes}")
    return batch


def evaluate(net, data: Any, spec: Any = None, *, precision: Any = "float32",
             mode: str = "Test") -> Any:
    """Evaluate ``net`` on ``data``; with ``spec``, return gradients instead (see module doc)."""
    kind = type(net).__name__
    dtype = _dtype(precision)
    if mode not in _MODES:
        raise NetValueError('mode is "Test" or "Train"', where=kind, got=f"got {mode!r}")
    raw_inputs, raw_imposed = _split_data(net, data)
    torch_out = any(isinstance(v, torch.Tensor) for v in raw_inputs.values())
    device = net._device_dtype()[0]
    ints = net.integer_ports()
    tensors = {p: _to_tensor(v, dtype, device, f'{kind}, port "{p}"', p in ints)
               for p, v in raw_inputs.items()}
    batch = _batched(net, tensors)
    if not batch:
        tensors = {p: t.unsqueeze(0) for p, t in tensors.items()}
    if any(net.port_shape(p) is None for p in tensors):
        net.infer({p: tuple(t.shape[1:]) for p, t in tensors.items()})
    net.check_initialized()

    # What is asked for.
    if spec is None:
        items, keyed = None, False
    elif spec is All or (isinstance(spec, NetPortGradient) and spec.spec is All):
        items, keyed = all_gradient_specs(net), True
    elif isinstance(spec, (list, tuple)) and not isinstance(spec, str):
        items, keyed = list(spec), True
    else:
        items, keyed = [spec], False
    if items is not None:
        for item in items:
            if isinstance(item, str):
                if item not in net.output_names():
                    raise NetKeyError(f"{kind} has no output port {item!r}", where=kind,
                                      got=f"got {item!r}",
                                      fix=f"output ports are {list(net.output_names())}; for a "
                                          "gradient use NetPortGradient(...)")
            elif not isinstance(item, NetPortGradient):
                raise NetTypeError("ask for an output port name or a NetPortGradient",
                                   where=kind, got=f"got {type(item).__name__} {item!r}")
    grad_specs = [it for it in (items or []) if isinstance(it, NetPortGradient)]
    targets = {it: resolve_gradient(net, it) for it in grad_specs}

    # Arrays in another precision are evaluated through cast copies (the net is not touched).
    params = dict(net.named_parameters())
    cast = any(p.dtype != dtype for p in params.values())
    array_leaf: dict[tuple[int, str], torch.Tensor] = {}
    if cast:
        swapped = {}
        for name, p in params.items():
            leaf = p.detach().to(dtype).requires_grad_(p.requires_grad)
            swapped[name] = leaf
            array_leaf[(id(_owner(net, name)), name.rsplit(".", 1)[-1])] = leaf
    if grad_specs:
        tensors = {p: (t.detach().requires_grad_(True)
                       if any(tg.kind == "input" and tg.port == p for tg in targets.values())
                       else t.detach()) for p, t in tensors.items()}

    training = [m.training for m in net.modules()]
    net.train(mode == "Train")
    # a random (Train-mode) pass can be replayed exactly if a non-finite value must be located
    rng_state = torch.get_rng_state() if mode == "Train" else None
    try:
        with torch.set_grad_enabled(torch.is_grad_enabled() or bool(grad_specs)):
            if cast:
                out = torch.func.functional_call(net, swapped, (), tensors)
                outputs = out if isinstance(out, dict) else {net.output_names()[0]: out}
            else:
                outputs = net.run_ports(tensors)
            _provenance.check_forward(net, tensors, outputs, batch=batch, dtype=dtype,
                                      rng_state=rng_state)
            grads = _gradients(net, outputs, tensors, targets, raw_imposed, batch, dtype,
                               device, array_leaf) if grad_specs else {}
            if grads:
                _provenance.check_backward(net, tensors, grads, batch=batch, dtype=dtype,
                                           imposed=raw_imposed, rng_state=rng_state)
    finally:
        for m, t in zip(net.modules(), training):
            m.training = t

    def convert(t: torch.Tensor, per_example: bool) -> Any:
        if per_example and not batch:
            t = t[0]
        if torch_out:
            return t if not grad_specs else t.detach()
        a = t.detach().cpu().numpy()
        return float(a) if a.ndim == 0 else a

    if items is None:
        if len(outputs) == 1:
            return convert(next(iter(outputs.values())), True)
        return {p: convert(t, True) for p, t in outputs.items()}
    result = {}
    for it in items:
        if isinstance(it, str):
            result[it] = convert(outputs[it], True)
        else:
            result[it] = convert(grads[it], targets[it].kind == "input")
    return result if keyed else result[items[0]]


def _owner(net, qualified: str):
    mod = net
    for part in qualified.split(".")[:-1]:
        mod = getattr(mod, part)
    return mod


def _gradients(net, outputs: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor],
               targets: dict[NetPortGradient, Target], raw_imposed: dict[str, Any], batch: bool,
               dtype: torch.dtype, device: torch.device,
               array_leaf: dict[tuple[int, str], torch.Tensor]) -> dict[NetPortGradient, torch.Tensor]:
    kind = type(net).__name__
    outs, gouts = [], []
    for port, y in outputs.items():
        if not y.is_floating_point():
            continue
        if port in raw_imposed:
            g = _to_tensor(raw_imposed[port], dtype, device,
                           f'{kind}, imposed gradient at "{port}"', False)
            if not batch:
                g = g.unsqueeze(0)
            if g.shape != y.shape:
                try:
                    g = g.expand(y.shape)
                except RuntimeError:
                    raise ShapeError(f'the imposed gradient must have the shape of output "{port}", '
                                     f"{describe_shape(tuple(y.shape[1:]))}"
                                     + (" per example" if batch else ""),
                                     where=f'{kind}, NetPortGradient("{port}")',
                                     got=f"got {fmt_shape(tuple(g.shape[1:]))}") from None
        elif raw_imposed:
            continue  # outputs not listed get gradient 0
        else:
            g = torch.ones_like(y)
        if y.requires_grad:
            outs.append(y)
            gouts.append(g)
    wrt = []
    for spec, tg in targets.items():
        if tg.kind == "input":
            wrt.append(tensors[tg.port])
        else:
            wrt.append(array_leaf.get((id(tg.layer), tg.name), getattr(tg.layer, tg.name)))
    if outs:
        found = torch.autograd.grad(outs, wrt, gouts, allow_unused=True)
    else:
        found = [None] * len(wrt)
    return {spec: (g if g is not None else torch.zeros_like(w))
            for spec, g, w in zip(targets, found, wrt)}

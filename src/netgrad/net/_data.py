"""User data to tensors, for Wolfram-style evaluation: ports, dtype, and one example or a batch.

These are the only places where evaluation reads what the user gave; everything after works on
the :class:`~netgrad.net._record.EvaluationRecord` they produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from .._module import NetModule
from .._shapes import describe_shape, fmt_shape
from ..gradient import NetPortGradient

__all__ = ["PRECISIONS", "parse_precision", "split_data", "to_tensor", "batched"]

#: Names of the evaluation precisions.
PRECISIONS = {"float32": torch.float32, "float64": torch.float64, "Real32": torch.float32,
              "Real64": torch.float64}


def parse_precision(precision: Any, where: str = "evaluation",
                    data: Any = ()) -> torch.dtype:
    """``"float32"``/``"float64"`` (or Wolfram's ``"Real32"``/``"Real64"``, or the torch
    dtype) → the torch dtype. ``None`` (the default of evaluation) is float64 when a torch
    float64 tensor is among ``data`` (tensors keep their precision), else float32."""
    if precision is None:
        return torch.float64 if any(isinstance(v, torch.Tensor) and v.dtype == torch.float64
                                    for v in data) else torch.float32
    if isinstance(precision, torch.dtype) and precision in (torch.float32, torch.float64):
        return precision
    if isinstance(precision, str) and precision in PRECISIONS:
        return PRECISIONS[precision]
    return _bad_precision(precision, where)


def _bad_precision(precision: Any, where: str) -> torch.dtype:
    close = [k for k in PRECISIONS if isinstance(precision, str) and k.lower() == precision.lower()]
    raise NetValueError('precision is "float32" or "float64"', where=where,
                        got=f"got {precision!r}",
                        fix=f"did you mean {close[0]!r}?" if close else
                        'precision="float64" (or torch.float64) for double precision')


def split_data(net: NetModule, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` → (input port → value, output port → imposed gradient), checking port names."""
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


def to_tensor(value: Any, dtype: torch.dtype, device: torch.device, where: str,
              integer: bool) -> torch.Tensor:
    """One port's data as a tensor: class indices as int64 (``integer``), else real ``dtype``."""
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(np.asarray(value))
        except (ValueError, TypeError) as e:
            raise NetTypeError("data must be a number or a rectangular array of numbers",
                               where=where, got=f"got {type(value).__name__} ({e})",
                               fix="give a NumPy array or a torch tensor; ragged examples need "
                                   "padding to one shape, text an encoder "
                                   "(NetEncoder(\"Characters\", ...))") from None
    if integer:
        if t.is_floating_point():
            if not torch.equal(t, t.round()):
                raise NetValueError("expected integers (class indices)", where=where,
                                    got="got non-integer values",
                                    fix="give 0-based class indices such as 0, 1, 2 (for class "
                                        "probabilities use CrossEntropyLossLayer(\"Probabilities\"))")
        elif t.dtype == torch.bool or t.is_complex():
            raise NetTypeError("expected integers (class indices)", where=where,
                               got=f"got {t.dtype}", fix="give 0-based class indices as ints")
        return t.to(device=device, dtype=torch.long)
    if t.is_complex():
        raise NetTypeError("expected real numbers", where=where, got=f"got {t.dtype}",
                           fix="pass the real part (x.real) or real and imaginary parts as two "
                               "channels")
    return t.to(device=device, dtype=dtype)


def batched(net: NetModule, tensors: Mapping[str, torch.Tensor],
            sequence_forms: Mapping[str, str] | None = None) -> bool:
    """Whether the data is a batch (rank one more than every known port shape) or one example.

    ``sequence_forms``: for sequence ports (already padded to a batch), how the user gave the
    data (:func:`netgrad._sequences.sequence_tensor`); ``"one"`` is one example."""
    kind = type(net).__name__
    decisions: dict[str, bool] = {}
    forms = sequence_forms or {}
    for port, t in tensors.items():
        if port in forms:
            decisions[port] = forms[port] != "one"
            continue
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
                             got=f"got data of shape {fmt_shape(tuple(t.shape))}",
                             fix=f"give an array of shape {fmt_shape(shape)} or (n, "
                                 f"{', '.join(map(str, shape))})" if shape else
                                 "give a number or a vector of numbers (a batch)")
    if len(set(decisions.values())) > 1:
        raise ShapeError("all ports must get one example, or all a batch", where=kind,
                         got="got " + ", ".join(f'{p}: {"batch" if b else "one example"}'
                                                for p, b in decisions.items()),
                         fix="add a batch dimension to the single examples (x[None]) or give "
                             "one example everywhere")
    batch = next(iter(decisions.values()), False)
    if batch:
        sizes = {p: t.shape[0] for p, t in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise ShapeError("every port must get the same number of examples", where=kind,
                             got=f"got batch sizes {sizes}",
                             fix="give each port one entry per example (the first dimension)")
    return batch

"""Unary elementwise operations, applying the registered rules of ``_rules.py``.

Every function takes a tensor ``x`` of any shape and returns a tensor of the same shape, with the
same forward values as its torch counterpart. Non-floating inputs (integers, complex) go to torch
unchanged.
"""

from __future__ import annotations

import torch

from ._core import is_float
from ._rules import UNARY

__all__ = ["sqrt", "exp", "log", "log1p", "expm1", "abs", "ramp", "sign", "tanh",
           "logistic_sigmoid", "softplus", "sin", "cos", "sinc"]


def _unary(name: str, torch_fn):
    apply = UNARY[name]

    def op(x, *params):
        if not isinstance(x, torch.Tensor) or not is_float(x):
            return torch_fn(x, *params)
        return apply(x, *params)

    op.__name__ = name
    return op


_sqrt = _unary("sqrt", torch.sqrt)
_exp = _unary("exp", torch.exp)
_log = _unary("log", torch.log)
_log1p = _unary("log1p", torch.log1p)
_expm1 = _unary("expm1", torch.expm1)
_abs = _unary("abs", torch.abs)
_ramp = _unary("ramp", torch.relu)
_sign = _unary("sign", torch.sign)
_tanh = _unary("tanh", torch.tanh)
_sigmoid = _unary("logistic_sigmoid", torch.sigmoid)
_softplus = _unary("softplus", lambda x, b, t: torch.nn.functional.softplus(x, b, t))
_sin = _unary("sin", torch.sin)
_cos = _unary("cos", torch.cos)
_sinc = _unary("sinc", torch.sinc)


def sqrt(input: torch.Tensor) -> torch.Tensor:
    """√x. Gradient 0.5/√x, +inf at 0 (a true infinity), 0 where the cotangent is 0."""
    return _sqrt(input)


def exp(input: torch.Tensor) -> torch.Tensor:
    """eˣ. Gradient eˣ (0 at x = -inf, which also kills an infinite cotangent)."""
    return _exp(input)


def log(input: torch.Tensor) -> torch.Tensor:
    """log x. Gradient 1/x, +inf at 0, 0 where the cotangent is 0 (so ``where`` is safe)."""
    return _log(input)


def log1p(input: torch.Tensor) -> torch.Tensor:
    """log(1 + x), accurate near 0. Gradient 1/(1 + x)."""
    return _log1p(input)


def expm1(input: torch.Tensor) -> torch.Tensor:
    """eˣ - 1, accurate near 0. Gradient eˣ."""
    return _expm1(input)


def abs(input: torch.Tensor) -> torch.Tensor:
    """|x|. Gradient sign(x); 0 at x = 0 (minimum-norm subgradient)."""
    return _abs(input)


def ramp(input: torch.Tensor) -> torch.Tensor:
    """Ramp (ReLU), max(x, 0). Gradient 1 for x > 0, exactly 0 otherwise (0 at x = 0)."""
    return _ramp(input)


def sign(input: torch.Tensor) -> torch.Tensor:
    """sign(x) in {-1, 0, 1}. Gradient 0 everywhere (also at 0, also for infinite cotangents)."""
    return _sign(input)


def tanh(input: torch.Tensor) -> torch.Tensor:
    """tanh x. Gradient 1 - tanh²x (exactly 0 where it saturates)."""
    return _tanh(input)


def logistic_sigmoid(input: torch.Tensor) -> torch.Tensor:
    """1/(1 + e⁻ˣ). Gradient σ(1 - σ)."""
    return _sigmoid(input)


def softplus(input: torch.Tensor, beta: float = 1.0, threshold: float = 20.0) -> torch.Tensor:
    """log(1 + e^(βx))/β, linear where βx > threshold (as ``torch.nn.functional.softplus``).

    Gradient σ(βx), and 1 in the linear region.
    """
    return _softplus(input, beta, threshold)


def sin(input: torch.Tensor) -> torch.Tensor:
    """sin x. Gradient cos x."""
    return _sin(input)


def cos(input: torch.Tensor) -> torch.Tensor:
    """cos x. Gradient -sin x."""
    return _cos(input)


def sinc(input: torch.Tensor) -> torch.Tensor:
    """Normalized sinc, sin(πx)/(πx) with sinc 0 = 1 (as ``torch.sinc``).

    Gradient (cos πx - sinc x)/x, from a series near 0 (0 at x = 0) so it never cancels badly.
    """
    return _sinc(input)

"""``robust()``: run plain torch code on netgrad's robust operations.

Under ``with netgrad.ops.robust():`` the operators on tensors (``x * y``, ``x / y``, ``x ** p``,
``abs(x)``...), the ``torch.*`` functions, the ``Tensor`` methods and the
``torch.nn.functional.*`` functions that have a robust counterpart in :mod:`netgrad.ops` run on
it; everything else (``+``, ``-``, ``sum``, convolutions, ...) runs unchanged. ::

    with netgrad.ops.robust():
        y = torch.where(x > 0, torch.sqrt(x), 0)    # gradient 0 at x = -1, not NaN
        r = torch.sqrt(x * x + y * y)              # gradient 0 at the origin, not NaN

It is a :class:`torch.overrides.TorchFunctionMode`. Entering it while it is already active does
nothing (re-entrant and cheap), and the robust operations switch ``__torch_function__`` off
inside themselves, so they never re-enter the mode.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from . import _arith as A
from . import _binary as B
from . import _elementwise as E
from . import _linalg as LA
from . import _losses as L
from . import _norms as N
from . import _reductions as RD
from . import _softmax as S

__all__ = ["robust", "robust_counterpart"]

NI = NotImplemented
_T = torch.Tensor
_TB = torch._C.TensorBase


def _unary(op: Callable) -> Callable:
    def handler(x, *args, **kwargs):
        return op(x) if not args and not kwargs else NI
    return handler


def _binary(op: Callable, swap: bool = False) -> Callable:
    def handler(a, b, *args, **kwargs):
        if args or kwargs:
            return NI
        return op(b, a) if swap else op(a, b)
    return handler


def _div(a, b, *args, rounding_mode=None, **kwargs):
    if args or kwargs or rounding_mode is not None:
        return NI
    return A.div(a, b)


def _where(cond, *args, **kwargs):
    if len(args) != 2 or kwargs:
        return NI
    return B.where(cond, *args)


def _tensor_where(self, cond, other, *args, **kwargs):
    if args or kwargs:
        return NI
    return B.where(cond, self, other)


def _clamp(x, min=None, max=None, *args, **kwargs):
    if args or kwargs:
        return NI
    return B.clip(x, min, max)


def _max_like(full, pairwise):
    def handler(x, *args, **kwargs):
        if not args and not kwargs:
            return full(x)
        if len(args) == 1 and not kwargs and isinstance(args[0], _T):
            return pairwise(x, args[0])
        if not args and set(kwargs) == {"other"}:
            return pairwise(x, kwargs["other"])
        return NI  # the (values, indices) overloads stay torch's
    return handler


def _reduction(op: Callable) -> Callable:
    def handler(x, dim=None, keepdim=False, *args, dtype=None, **kwargs):
        if args or kwargs:
            return NI
        return op(x, dim, keepdim, dtype=dtype)
    return handler


def _cumprod(x, dim, *args, dtype=None, **kwargs):
    if args or kwargs:
        return NI
    return RD.cumprod(x, dim, dtype=dtype)


def _logsumexp(x, dim=None, keepdim=False, *args, **kwargs):
    if args or kwargs:
        return NI
    return RD.logsumexp(x, dim, keepdim)


def _softmax_like(op: Callable) -> Callable:
    def handler(x, dim=None, *args, dtype=None, _stacklevel=3, **kwargs):
        if kwargs or len(args) > 1:
            return NI
        if args:  # legacy positional _stacklevel or dtype
            if isinstance(args[0], torch.dtype):
                dtype = args[0]
        return op(x, dim, dtype=dtype)
    return handler


def _vector_norm(x, ord=2, dim=None, keepdim=False, *args, dtype=None, **kwargs):
    if args or kwargs:
        return NI
    return N.norm(x, ord, dim, keepdim, dtype=dtype)


def _torch_norm(x, p="fro", dim=None, keepdim=False, out=None, dtype=None, **kwargs):
    if kwargs or out is not None:
        return NI
    if p == "fro":
        p = 2
    if not isinstance(p, (numbers.Real, _T)) or isinstance(p, bool):
        return NI
    if isinstance(dim, (tuple, list)) and len(dim) > 1 and p != 2:
        return NI  # a matrix norm
    return N.norm(x, p, dim, keepdim, dtype=dtype)


def _linalg_norm(x, ord=None, dim=None, keepdim=False, *args, dtype=None, **kwargs):
    if args or kwargs:
        return NI
    if ord is None and (dim is None or isinstance(dim, int) or len(dim) == 1):
        return N.norm(x, 2, dim, keepdim, dtype=dtype)
    if dim is not None and (isinstance(dim, int) or len(dim) == 1) and \
            isinstance(ord, (numbers.Real, _T)):
        return N.norm(x, ord, dim, keepdim, dtype=dtype)
    if dim is None and x.dim() == 1 and isinstance(ord, (numbers.Real, _T)):
        return N.norm(x, ord, None, keepdim, dtype=dtype)
    return NI


def _spread(op: Callable) -> Callable:
    def handler(x, *args, correction=None, keepdim=False, unbiased=None, **kwargs):
        if kwargs:
            return NI
        dim = None
        args = list(args)
        if args and isinstance(args[0], bool):
            unbiased = args.pop(0)
        elif args:
            dim = args.pop(0)
            if args and isinstance(args[0], bool):
                unbiased = args.pop(0)
            if args and isinstance(args[0], bool):
                keepdim = args.pop(0)
        if args:
            return NI
        return op(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    return handler


def _softplus(x, beta=1.0, threshold=20.0, *args, **kwargs):
    if args or kwargs:
        return NI
    return E.softplus(x, beta, threshold)


def _normalize(x, p=2.0, dim=1, eps=1e-12, out=None):
    return N.normalize(x, p, dim, eps, out)


def _cosine(x1, x2, dim=1, eps=1e-8):
    return N.cosine_similarity(x1, x2, dim, eps)


def _reciprocal(x, *args, **kwargs):
    return A.div(1.0, x) if not args and not kwargs else NI


def _rsqrt(x, *args, **kwargs):
    return A.div(1.0, E.sqrt(x)) if not args and not kwargs else NI


def _methods(name: str) -> list:
    """``torch.Tensor.name`` and its base-class slot, when they exist."""
    out = []
    for owner in (_T, _TB):
        f = owner.__dict__.get(name)
        if f is not None:
            out.append(f)
    return out


def _build() -> dict:
    table: dict = {}

    def reg(handler, *funcs):
        for f in funcs:
            if isinstance(f, list):
                for g in f:
                    table[g] = handler
            elif f is not None:
                table[f] = handler

    sp = torch.special
    reg(_binary(A.mul), torch.mul, torch.multiply, _methods("mul"), _methods("multiply"),
        _methods("__mul__"), _methods("__rmul__"))
    reg(_div, torch.div, torch.divide, torch.true_divide, _methods("div"), _methods("divide"),
        _methods("true_divide"), _methods("__truediv__"), _methods("__div__"))
    reg(_binary(A.div, swap=True), _methods("__rtruediv__"), _methods("__rdiv__"))
    reg(_binary(A.pow), torch.pow, _methods("pow"), _methods("__pow__"))
    reg(_binary(A.pow, swap=True), _methods("__rpow__"))
    reg(_reciprocal, torch.reciprocal, _methods("reciprocal"))
    reg(_rsqrt, torch.rsqrt, _methods("rsqrt"))
    for name, op in (("sqrt", E.sqrt), ("exp", E.exp), ("log", E.log), ("log1p", E.log1p),
                     ("expm1", E.expm1), ("abs", E.abs), ("absolute", E.abs),
                     ("relu", E.ramp), ("sign", E.sign), ("tanh", E.tanh),
                     ("sigmoid", E.logistic_sigmoid), ("sin", E.sin), ("cos", E.cos),
                     ("sinc", E.sinc)):
        reg(_unary(op), getattr(torch, name, None), _methods(name))
    reg(_unary(E.abs), _methods("__abs__"))
    reg(lambda x, inplace=False: NI if inplace else E.ramp(x), F.relu)
    reg(_unary(E.tanh), F.tanh)
    reg(_unary(E.logistic_sigmoid), F.sigmoid, sp.expit)
    reg(_unary(E.expm1), sp.expm1)
    reg(_unary(E.log1p), sp.log1p)
    reg(_unary(E.sinc), sp.sinc)
    reg(_softplus, F.softplus)
    reg(_binary(B.atan2), torch.atan2, torch.arctan2, _methods("atan2"), _methods("arctan2"))
    reg(_binary(B.hypot), torch.hypot, _methods("hypot"))
    reg(_binary(B.xlogy), torch.xlogy, sp.xlogy, _methods("xlogy"))
    reg(_where, torch.where)
    reg(_tensor_where, _methods("where"))
    reg(_clamp, torch.clamp, torch.clip, _methods("clamp"), _methods("clip"))
    reg(lambda x, min, *a, **k: NI if a or k else B.clip(x, min, None),
        torch.clamp_min, _methods("clamp_min"))
    reg(lambda x, max, *a, **k: NI if a or k else B.clip(x, None, max),
        torch.clamp_max, _methods("clamp_max"))
    reg(_binary(B.maximum), torch.maximum, _methods("maximum"))
    reg(_binary(B.minimum), torch.minimum, _methods("minimum"))
    reg(_max_like(RD.amax, B.maximum), torch.max, _methods("max"))
    reg(_max_like(RD.amin, B.minimum), torch.min, _methods("min"))
    reg(_reduction(RD.prod), torch.prod, _methods("prod"))
    reg(_cumprod, torch.cumprod, _methods("cumprod"))
    reg(_logsumexp, torch.logsumexp, sp.logsumexp, _methods("logsumexp"))
    reg(_softmax_like(S.softmax), torch.softmax, F.softmax, sp.softmax, _methods("softmax"))
    reg(_softmax_like(S.log_softmax), torch.log_softmax, F.log_softmax, sp.log_softmax,
        _methods("log_softmax"))
    reg(_vector_norm, torch.linalg.vector_norm)
    reg(_linalg_norm, torch.linalg.norm)
    reg(_torch_norm, torch.norm, _methods("norm"))
    reg(_spread(N.var), torch.var, _methods("var"))
    reg(_spread(N.std), torch.std, _methods("std"))
    reg(_normalize, F.normalize)
    reg(_cosine, F.cosine_similarity, torch.cosine_similarity)
    reg(L.binary_cross_entropy, F.binary_cross_entropy)
    reg(L.cross_entropy, F.cross_entropy)
    reg(LA.linear, F.linear)
    reg(LA.matmul, torch.matmul, _methods("matmul"), _methods("__matmul__"))
    reg(lambda a, b: LA.matmul(b, a), _methods("__rmatmul__"))
    table.pop(None, None)
    return table


#: torch function or method -> handler returning a result, or NotImplemented to pass through.
_TABLE: dict = _build()


def robust_counterpart(func: Callable) -> Callable | None:
    """The handler robust mode uses for a torch function or Tensor method, or None."""
    return _TABLE.get(func)


class RobustMode(TorchFunctionMode):
    """The mode behind :func:`robust` (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = _TABLE.get(func)
        if handler is not None and kwargs.get("out") is None:
            with torch._C.DisableTorchFunction():
                result = handler(*args, **kwargs)
            if result is not NI:
                return result
        return func(*args, **kwargs)


def _active() -> bool:
    if not torch._C._is_torch_function_mode_enabled():
        return False
    stack = torch.overrides._get_current_function_mode_stack()
    return any(isinstance(m, RobustMode) for m in stack)


_mode: type[RobustMode] = RobustMode


def use_mode(mode: type[RobustMode]) -> None:
    """The mode :func:`robust` enters: ``_limits`` registers its subclass, which also resolves
    removable singularities by series (ops sit below the series engine, so it calls in here)."""
    global _mode
    _mode = mode


@contextlib.contextmanager
def robust() -> Iterator[None]:
    """Context manager (also usable as a decorator) under which plain torch code runs on the
    robust operations of :mod:`netgrad.ops`, removable singularities (0/0 with a limit, such as
    sin(x)/x at 0) resolved to their limits; see the module docstring. Re-entrant."""
    if _active():
        yield
        return
    # the series engine needs host reads, so a traced block runs robust() without it
    with (RobustMode if torch.compiler.is_compiling() else _mode)():
        yield

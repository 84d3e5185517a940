"""Near a removable singularity: the series where the formula cancels.

A formula with a removable singularity at 0 is exact *at* 0 with the series patch, but close to
0 it cancels: ``1 - cos x`` at 1e-3 in float32 keeps one correct digit, and the backward of any
quotient ``a/b`` subtracts two terms of size 1/x² (``sin(x)/x`` at 1e-3 in float32: f'' off by
25%). ``python bench/near_singular.py`` prints the measured errors.

So under robust(), a division of tensors whose recipe is elementwise in **one** variable ``x``
(others are constants) and which has a 0/0 at ``x = 0`` is evaluated by its Taylor series at 0
(degree :data:`NEAR_ORDER`, coefficients by the series engine, cached per formula) wherever
``|x| <`` the smaller of :data:`NEAR_RADIUS` and the radius where that series is accurate to the
dtype. Outside that radius the formula's own results are used unchanged. The cost when no
element is that close: one reduction over ``x`` (``min |x|``) and one host read per such
division.

:func:`removable` offers the same explicitly for any point (and branch-free, for
``torch.compile`` and ``vmap``); :func:`taylor` returns the coefficients themselves.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ._series import Jet
from ._series_eval import Graph, Inst, evaluate, is_variable
from ._series_recipe import (ATTR, STATE, Leaf, Node, broadcast_positions, can_decide, numel,
                             recipe_of)
from ._series_rules import Unsupported

__all__ = ["near", "taylor", "removable", "Removable", "NEAR_RADIUS", "NEAR_ORDER"]

#: Below these distances from a removable singularity at 0 (and where the series is accurate
#: to the dtype) a one-variable formula is evaluated by its series. Outside them the formula's
#: relative error in value, f' and f'' stays below ~1e-2 (float32) and ~1e-7 (float64) for the
#: formulas of ``bench/near_singular.py``.
NEAR_RADIUS = {torch.float32: 0.1, torch.float64: 0.01}
NEAR_ORDER = 16
_CACHE: dict = {}
_CACHE_SIZE = 256
_disable = torch._C.DisableTorchFunction


def _univariate_leaf(node: Node) -> Leaf | None:
    """The one variable leaf of an all-elementwise recipe, else None."""
    found: Leaf | None = None
    seen: set = set()
    stack: list = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if len(seen) > 64:
            return None
        if isinstance(n, Leaf):
            if is_variable(n, None):
                if found is not None and found.t is not n.t:
                    return None
                found = found or n
            elif n.t.dim() > 0:
                return None
            continue
        if n.rule.kind != "ew":
            return None
        for a in list(n.args) + list(n.kwargs.values()):
            if isinstance(a, (Node, Leaf)):
                stack.append(a)
            elif isinstance(a, (list, tuple)):
                return None
    return found


def _structure(n: Node | Leaf, leaf: Leaf, memo: dict) -> tuple:
    """A hashable description of a one-variable recipe: its operations and constants."""
    got = memo.get(id(n))
    if got is not None:
        return got
    key: tuple
    if isinstance(n, Leaf):
        key = ("x",) if n.t is leaf.t else ("c", str(n.t.dtype), float(n.t.item()))
    else:
        def part(a: Any) -> Any:
            if isinstance(a, (Node, Leaf)):
                return _structure(a, leaf, memo)
            return a if isinstance(a, (int, float, bool, str, type(None), torch.dtype)) \
                else repr(a)
        key = (id(n.func), tuple(part(a) for a in n.args),
               tuple(sorted((k, part(a)) for k, a in n.kwargs.items())))
    memo[id(n)] = key
    return key


def _series_at_zero(node: Node, leaf: Leaf, device: torch.device) -> tuple | None:
    """Taylor coefficients at x = 0 of a division whose numerator and denominator both vanish
    there (a removable singularity at 0), else None."""
    pos = torch.zeros(1, dtype=torch.int64, device=device)
    try:
        with torch.no_grad():
            graph = Graph(node, pos)
            res, _ = evaluate(graph, 1, device, variables=[leaf.t], order=NEAR_ORDER,
                              centre=0.0, widths=(24, 40))
    except Unsupported:
        return None
    if res is None or res.uni is None or not bool(res.ok[0]) or bool(res.pole[0]):
        return None
    num, den = graph.root.args[0], graph.root.args[1]
    for side in (num, den):  # removable at 0: both sides vanish there
        jet = side.jet if isinstance(side, Inst) else None
        if not isinstance(jet, Jet) or float(jet.value[0]) != 0.0:
            return None
    return tuple(float(c) for c in res.uni[:, 0])


def radius(c: tuple, dtype: torch.dtype, cap: float | None = None) -> float:
    """Where the series truncated after ``c`` is accurate to ``dtype`` for the value and the
    first two derivatives (estimated from the last two coefficients), at most ``cap``
    (default :data:`NEAR_RADIUS`)."""
    eps = torch.finfo(dtype).eps
    K = len(c) - 1
    tail = max(abs(c[K]), abs(c[K - 1]))
    r = NEAR_RADIUS[dtype] if cap is None else cap
    if tail == 0:
        return r
    for m in range(3):
        scale = max(abs(c[m]) * math.factorial(m), abs(c[0]), 1e-300)
        r = min(r, (eps * scale / (math.perm(K, m) * tail)) ** (1.0 / (K - m)))
    return r


def _horner(coeffs: tuple, u: torch.Tensor) -> torch.Tensor:
    p = torch.full_like(u.detach(), coeffs[-1])
    for ck in reversed(coeffs[:-1]):
        p = p * u + ck
    return p


def near(node: Node, result: torch.Tensor) -> torch.Tensor:
    """``result`` of a division with its elements close to a removable singularity at 0
    evaluated by the series there (see the module docstring)."""
    R = NEAR_RADIUS.get(result.dtype)
    if R is None or not STATE.near or result.numel() == 0 or not can_decide(result):
        return result
    with _disable():
        leaf = _univariate_leaf(node)
        if leaf is None:
            return result
        x = leaf.t
        if x.dtype != result.dtype or \
                not torch.linalg.vector_norm(x.detach(), -math.inf).item() < R:
            return result
        key = (_structure(node, leaf, {}), str(result.dtype), x.device.type)
        if key in _CACHE:
            found = _CACHE[key]
        else:
            c = _series_at_zero(node, leaf, x.device)
            found = None if c is None else (c, radius(c, result.dtype))
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = found
        if found is None:
            return result
        coeffs, r = found
        flat_x = x.reshape(-1)
        xi = broadcast_positions(torch.arange(result.numel(), device=x.device),
                                 tuple(result.shape), tuple(x.shape))
        positions = (flat_x.detach()[xi].abs() < r).nonzero().squeeze(1)
        if positions.numel() == 0:
            return result
        values = _horner(coeffs, flat_x[xi[positions]])
        patched = result.reshape(-1).index_put((positions,), values).view(result.shape)
        patched.__dict__[ATTR] = Node(node.func, node.rule, node.args, node.kwargs, node.shape,
                                      patched._version, node.inf, node.depth)
        return patched


def taylor(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
           order: int = 2) -> torch.Tensor:
    """The Taylor coefficients of an elementwise function at every element of ``x``.

    ``fn`` is plain torch code; at a removable singularity the coefficients are those of the
    limit. Returns float64 ``(order + 1, *y.shape)`` with ``out[k] = f⁽ᵏ⁾(x)/k!``; NaN where no
    series exists (a pole, a jump, an operation the series engine does not know).

    Args:
        fn: a function of one tensor, elementwise.
        x: the points, any shape.
        order: the highest coefficient returned.
    """
    from ._limits import limits

    x = x.detach()
    with limits():
        y = fn(x)
    node = recipe_of(y) if isinstance(y, torch.Tensor) else None
    if node is None:
        raise TypeError("taylor() needs a function made of the elementwise operations the "
                        "series engine knows (see netgrad.ops._series_rules); got "
                        f"{type(y).__name__} without a recipe")
    M = numel(node.shape)
    positions = torch.arange(M, device=x.device)
    with torch.no_grad(), _disable():
        res, _ = evaluate(Graph(node, positions), M, x.device, variables=[x], order=order)
    out = torch.full((order + 1, M), math.nan, dtype=torch.float64, device=x.device)
    if res is not None and res.uni is not None:
        out = torch.where(res.ok[None, :] & ~res.pole[None, :], res.uni[:order + 1], math.nan)
    return out.view(order + 1, *node.shape)


class Removable:
    """``fn`` with a removable singularity at ``at``, evaluated by its Taylor series near it.

    Made by :func:`removable`. ``coefficients`` are the series' (float64, computed once, at
    construction, by the series engine); :meth:`radius` is where the series is used: the
    distance from ``at`` within which its truncation error is below the dtype's rounding for the
    value and the first two derivatives. Branch-free (two ``where``; the formula never sees the
    singular point), so it works under ``torch.compile``, ``vmap`` and on any device.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], at: float = 0.0,
                 order: int = NEAR_ORDER) -> None:
        self.fn, self.at, self.order = fn, float(at), int(order)
        c = taylor(fn, torch.tensor([self.at], dtype=torch.float64), self.order)[:, 0]
        if not bool(torch.isfinite(c).all()):
            raise ValueError(f"removable(): {getattr(fn, '__name__', 'the function')} has no "
                             f"Taylor series at {self.at} (a pole, a jump, or an operation the "
                             "series engine does not know); got coefficients "
                             f"{[float(v) for v in c[:4]]}...")
        self.coefficients = tuple(float(v) for v in c)
        self._radius = {dt: radius(self.coefficients, dt, cap=math.inf)
                        for dt in (torch.float32, torch.float64)}
        self.__name__ = getattr(fn, "__name__", "removable")

    def radius(self, dtype: torch.dtype) -> float:
        """The distance from ``at`` within which the series is used, for ``dtype``."""
        return self._radius.get(dtype, self._radius[torch.float32])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from ._robust import robust

        r = self.radius(x.dtype)
        d = x - self.at
        close = torch.abs(d) < r
        # the formula is evaluated only away from the singular point, so neither branch holds a
        # NaN and plain torch.where keeps every gradient finite
        safe = torch.where(close, self.at + 2 * r, x)
        if torch.compiler.is_compiling():  # robust() mode is not traced yet: the formula only
            far = self.fn(safe)            # meets regular points here, where both agree
        else:
            with robust():
                far = self.fn(safe)
        return torch.where(close, _horner(self.coefficients, d), far)


def removable(fn: Callable[[torch.Tensor], torch.Tensor], at: float = 0.0,
              order: int = NEAR_ORDER) -> Removable:
    """``fn`` evaluated by its own Taylor series (found by the series engine) where ``x`` is
    close to ``at``, and by the formula elsewhere: accurate values and derivatives near a
    removable singularity, e.g. ``removable(lambda x: (1 - torch.cos(x)) / x**2)`` at 1e-8.

    Args:
        fn: an elementwise function of one tensor, plain torch code.
        at: the singular point.
        order: the degree of the Taylor polynomial.
    """
    return Removable(fn, at, order)

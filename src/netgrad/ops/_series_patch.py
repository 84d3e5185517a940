"""The patch: singular elements replaced by a polynomial in their variables.

For each element a limit was found for (:mod:`._series_eval`), the new value is

    P(u) = c0 + Σᵢ gᵢ δᵢ + ½ Σᵢⱼ Hᵢⱼ δᵢ δⱼ        (one variable: Σₖ aₖ δᵏ, k ≤ 4)

with ``δᵢ = uᵢ - uᵢ.detach()``: exactly 0 in value, so ``P`` is the limit, while autograd (any
order, create_graph, torch.func) differentiates it like any expression and finds the limit's
derivatives. ``uᵢ`` is the variable's value gathered from its leaf (or, for a cut, recomputed
from its leaves with the robust operations), so gradients flow back to the tensors it came from.

Derivatives the polynomial does not know are NaN, never a made-up 0:

* orders above the polynomial's (a fifth derivative of the one-variable patch);
* through a cut whose derivative is infinite (``sqrt`` at 0) when the limit's derivative in the
  cut variable is 0: the chain rule there is 0·inf (``d/ds sin(√s)/√s`` is -1/6, not 0);
* any derivative of an even pole (the value is ±inf).

Each is an extra term of value 0 (:class:`Beyond`) whose derivative of the given order is NaN
wherever the incoming gradient is not exactly 0 (a zero cotangent still gives 0, rule 3).
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable

import torch
from torch.autograd import Function

from ._series_eval import Graph, Inst, Result, Variable, evaluate
from ._series_recipe import Leaf, Node
from ._series_rules import Unsupported

__all__ = ["Beyond", "patch", "polynomial", "replay"]


class Beyond(Function):
    """``Beyond.apply(s, k)``: value 0; derivatives below order ``k`` are 0, of order ``k`` NaN
    (where the incoming gradient is not 0)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(s, k):
        return torch.zeros_like(s)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.k = inputs[1]

    @staticmethod
    def _derivative(s, k):
        return Beyond.apply(s, k - 1) if k > 1 else s * math.nan + math.nan

    @staticmethod
    def jvp(ctx, t, _k):
        (s,) = ctx.saved_tensors
        return torch.where(t == 0, 0.0, t * Beyond._derivative(s, ctx.k))

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return torch.where(g == 0, 0.0, g * Beyond._derivative(s, ctx.k)), None


class _StrongZeroCall(Function):
    """A replayed elementwise operation that has no robust counterpart, with the strong-zero
    rule in its derivatives: an incoming gradient (or tangent) of exactly 0 gives exactly 0
    (torch's own acos backward at 1 would give 0·inf = NaN). Operands are ``(M,)`` tensors."""

    @staticmethod
    def forward(call, *xs):
        return call(*xs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.call = inputs[0]
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])

    @staticmethod
    def jvp(ctx, _call, *ts):
        xs = ctx.saved_tensors
        ts = tuple(t if t is not None else torch.zeros_like(x) for t, x in zip(ts, xs))
        out = torch.func.jvp(ctx.call, tuple(xs), ts)[1]
        zero = functools.reduce(operator.and_, [t == 0 for t in ts])
        return torch.where(zero, 0.0, out)

    @staticmethod
    def backward(ctx, g):
        vjp = torch.func.vjp(ctx.call, *ctx.saved_tensors)[1]
        return (None, *(torch.where(g == 0, 0.0, r) for r in vjp(g)))


def _call_unrouted(func: Callable, args: tuple, kwargs: dict) -> torch.Tensor:
    slots = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and
             a.is_floating_point()]
    if not slots:
        return func(*args, **kwargs)

    def call(*xs):
        full = list(args)
        for i, x in zip(slots, xs):
            full[i] = x
        return func(*full, **kwargs)
    return _StrongZeroCall.apply(call, *(args[i] for i in slots))


def replay(inst: Inst) -> torch.Tensor:
    """The value of an instance recomputed from its leaves with the robust operations (or,
    without a robust counterpart, with strong zeros), differentiable."""
    if inst.replayed is not None:
        return inst.replayed
    obj = inst.obj
    out: Any
    if isinstance(obj, Leaf):
        out = obj.t.reshape(-1)[inst.pos]
    elif obj.rule.kind == "ew":
        from ._robust import robust_counterpart

        def sub(a):
            if isinstance(a, Inst):
                return replay(a)
            if isinstance(a, (list, tuple)):
                return type(a)(sub(x) for x in a)
            return a
        args = sub(inst.args)
        kwargs = {k: sub(a) for k, a in inst.kwargs.items()}
        handler = robust_counterpart(obj.func)
        out = handler(*args, **kwargs) if handler is not None else NotImplemented
        if out is NotImplemented:
            out = _call_unrouted(obj.func, args, kwargs)
    else:
        out = None
        for child, slot in inst.parts:
            r = replay(child)
            out = r if out is None or slot is None else torch.where(slot, r, out)
    inst.replayed = out
    return out


def patch(node: Node, positions: torch.Tensor,
          dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(values, ok)`` for the elements at ``positions`` of ``node``'s output: the patch where
    ``ok``; ``(None, None)`` when no element has a limit."""
    try:
        with torch.no_grad():
            graph = Graph(node, positions)
            res, vs = evaluate(graph, positions.numel(), positions.device)
    except Unsupported:
        return None, None
    if res is None or not bool(res.ok.any()):
        return None, None
    return polynomial(res, vs, dtype), res.ok


def polynomial(res: Result, vs: list[Variable], dtype: torch.dtype) -> torch.Tensor:
    """The patch polynomial (see the module docstring), in ``dtype``."""
    ds = [u - u.detach() for u in (replay(v.inst).to(dtype) for v in vs)]
    out = res.c0.to(dtype)
    if res.uni is not None:
        power = ds[0]
        for k in range(1, res.order + 1):
            out = out + res.uni[k].to(dtype) * power
            power = power * ds[0]
    elif res.grad is not None and res.hess is not None:
        for i, di in enumerate(ds):
            out = out + res.grad[i].to(dtype) * di
            for j, dj in enumerate(ds):
                out = out + 0.5 * res.hess[i, j].to(dtype) * di * dj
    total = functools.reduce(operator.add, ds)
    if total.requires_grad:
        out = out + Beyond.apply(total, res.order + 1)
        for j, v in enumerate(vs):  # an infinite derivative met by a zero one: 0·inf
            if v.inf is not None and ds[j].requires_grad:
                g = res.uni[1] if res.uni is not None else res.grad[j]  # type: ignore[index]
                unknown = (v.inf & (g == 0)).to(dtype)
                out = out + unknown * Beyond.apply(ds[j], 1)
        if bool(res.pole.any()):
            out = out + res.pole.to(dtype) * Beyond.apply(total, 1)
    return out

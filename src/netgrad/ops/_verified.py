"""Verified fused kernels: torch's own fused kernel where its result is provably the robust one.

Some operations have a fused torch kernel (the LSTM, GRU and RNN recurrences, scaled
dot-product attention) that is several times faster than any composition of netgrad.ops, and
whose backward is built only from sums and products of finite, bounded factors (gate values
σ ∈ [0, 1], tanh ∈ [-1, 1], softmax weights in [0, 1], their derivatives) with the inputs,
weights and cotangent. For such a kernel, the result differs from the robust composition only
where IEEE arithmetic meets ``0 · ∞`` (strong zeros, contract rule 3) or ``∞ - ∞``, and each of
those makes a NaN that propagates into the result: a NaN never disappears in sums and products.
So a result **without a NaN is exactly the robust result** (to rounding), and a result with one
is recomputed by the robust composition. That is the only rule here:

* forward: the fused kernel; if an output holds a NaN, the robust composition instead;
* first-order backward: the fused kernel's own backward (its graph is kept from the forward,
  and released exactly when autograd releases this node's saved tensors, so
  ``retain_graph=True`` gives the same answer twice and memory is held no longer than torch
  holds it); if a gradient holds a NaN, the robust composition is recomputed from the saved
  inputs and differentiated;
* double backward (``create_graph=True``): the robust composition, recomputed and
  differentiated with ``create_graph``, so second derivatives keep the contract (rule 8);
* traced code (``torch.compile``, ``torch.func``): the robust composition, directly (callers
  check :func:`tracing` and never reach the Function).
"""

from __future__ import annotations

import weakref
from typing import Callable, Sequence

import torch
from torch.autograd import Function

from ._core import has_nan, plain

__all__ = ["verified", "tracing"]


def tracing() -> bool:
    """Whether the call is being traced (torch.compile) or transformed (torch.func), where the
    data-dependent fallback of :func:`verified` is not possible."""
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


def _any_nan(ts: Sequence) -> bool:
    return any(isinstance(t, torch.Tensor) and t.is_floating_point() and has_nan(t) for t in ts)


def _leaves(inputs: Sequence, needs: Sequence[bool]) -> list:
    return [t.detach().requires_grad_(n) if isinstance(t, torch.Tensor) and n else
            (t.detach() if isinstance(t, torch.Tensor) else t) for t, n in zip(inputs, needs)]


def _differentiate(fn: Callable, inputs: Sequence, wanted: list[int], grads: Sequence,
                   create_graph: bool) -> tuple:
    with torch.enable_grad():
        outs = fn(*inputs)
    pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
    if not pairs or not wanted:
        return (None,) * len(wanted)
    return torch.autograd.grad([o for o, _ in pairs], [inputs[i] for i in wanted],
                               [g for _, g in pairs], create_graph=create_graph,
                               allow_unused=True)


class _Inner:
    """The fused kernel's autograd graph, dropped when autograd frees the node's saved tensors."""

    __slots__ = ("graph", "__weakref__")

    def __init__(self, graph) -> None:
        self.graph = graph

    @staticmethod
    def drop(ref: "weakref.ref[_Inner]") -> None:
        inner = ref()
        if inner is not None:
            inner.graph = None


class _Verified(Function):
    @staticmethod
    @plain
    def forward(ctx, fast, careful, *inputs):
        needs = ctx.needs_input_grad[2:]
        leaves = _leaves(inputs, needs)
        with torch.enable_grad():
            outs = fast(*leaves)
            if _any_nan(outs):
                outs = careful(*leaves)
        ctx.careful = careful
        ctx.inner = _Inner((leaves, outs))
        # A token only this node's saved tensors hold: autograd frees it after a backward
        # without retain_graph (or with the node), and the kernel's graph goes with it.
        token = torch.empty(0)
        weakref.finalize(token, _Inner.drop, weakref.ref(ctx.inner))
        tensors = [t if isinstance(t, torch.Tensor) else None for t in inputs]
        ctx.others = [None if isinstance(t, torch.Tensor) else t for t in inputs]
        ctx.save_for_backward(token, *tensors)
        return tuple(o.detach() for o in outs)

    @staticmethod
    @plain
    def backward(ctx, *grads):
        needs = ctx.needs_input_grad[2:]
        wanted = [i for i, n in enumerate(needs) if n]
        saved = ctx.saved_tensors[1:]
        inputs = [t if t is not None else o for t, o in zip(saved, ctx.others)]
        if torch.is_grad_enabled():  # create_graph: the robust composition, differentiable
            found = _differentiate(ctx.careful, inputs, wanted, grads, create_graph=True)
        else:
            found = None
            if ctx.inner.graph is not None:
                leaves, outs = ctx.inner.graph
                pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
                if pairs:
                    found = torch.autograd.grad([o for o, _ in pairs], [leaves[i] for i in wanted],
                                                [g for _, g in pairs], allow_unused=True,
                                                retain_graph=True)
                else:
                    found = (None,) * len(wanted)
            if found is None or _any_nan(found):
                found = _differentiate(ctx.careful, _leaves(inputs, needs), wanted, grads,
                                       create_graph=False)
        result: list = [None] * (2 + len(needs))
        for i, g in zip(wanted, found):
            result[2 + i] = g
        return tuple(result)


def verified(fast: Callable, careful: Callable, *inputs) -> tuple[torch.Tensor, ...]:
    """``fast(*inputs)``, checked, with ``careful(*inputs)`` wherever a result holds a NaN.

    Args:
        fast: the fused torch kernel, returning a tuple of float tensors; differentiable by
            torch's own autograd.
        careful: the robust composition of netgrad.ops with the same signature and results.
        inputs: tensors (or None / Python values), passed positionally to both.

    Use only for kernels whose result is exactly the robust one when it holds no NaN (see the
    module docstring), and only outside tracing (:func:`tracing`).
    """
    needs_grad = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in inputs)
    if not needs_grad:
        with torch.no_grad():
            outs = fast(*inputs)
            return outs if not _any_nan(outs) else careful(*inputs)
    return _Verified.apply(fast, careful, *inputs)

"""matmul and linear.

``linear`` (what every LinearLayer runs) has a strong-zero backward: its gradients are sums of
products (g Wᵀ … xᵀ g), and a product with an exactly-zero factor contributes exactly 0 even
when the other factor is infinite or NaN (rule 3). A weight gradient meets that case whenever an
input is exactly 0 and the cotangent is infinite (Sqrt at 0 after a LinearLayer). The fast path
is torch's own matrix products plus one NaN check of each result; only a result holding a NaN is
recomputed, in chunks, with strong-zero products. ``matmul`` (any ranks, broadcasting) does the
same.
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import has_nan, plain

__all__ = ["matmul", "linear"]

_CHUNK_ELEMENTS = 1 << 24  # a strong-zero recomputation holds at most this many products


def _strong_zero_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` (2-D) where 0 · anything = 0, by chunks of the contracted dimension."""
    m, k = a.shape
    n = b.shape[1]
    step = max(1, _CHUNK_ELEMENTS // max(1, m * n))
    out = a.new_zeros(m, n)
    for s in range(0, k, step):
        ac, bc = a[:, s:s + step, None], b[None, s:s + step, :]
        terms = ac * bc
        terms.masked_fill_((ac == 0) | (bc == 0), 0)
        out += terms.sum(1)
    return out


def _strong_zero_bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.matmul(a, b)`` for ≥2-D operands with strong zeros (the careful path)."""
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = a.expand(batch + a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b = b.expand(batch + b.shape[-2:]).reshape(-1, *b.shape[-2:])
    out = torch.stack([_strong_zero_mm(ai, bi) for ai, bi in zip(a, b)]) if a.shape[0] else \
        a.new_zeros(0, a.shape[1], b.shape[2])
    return out.reshape(batch + out.shape[-2:])


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The first-order product of a backward: torch's, redone carefully only if it holds a NaN."""
    r = torch.matmul(a, b)
    return _strong_zero_bmm(a, b) if has_nan(r) else r


def _strong_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _MatMul.apply(a, b, True)


def _product():
    """The product a backward forms its gradients with: a strong-zero product in both cases;
    under ``create_graph`` a differentiable one (whose own backward keeps strong zeros)."""
    return _strong_matmul if torch.is_grad_enabled() else _mm


class _MatMul(Function):
    """``torch.matmul`` with a strong-zero backward (operands of any rank, broadcasting).

    ``strong=True`` makes the forward a strong-zero product too: the products a backward forms
    (g Bᵀ, Aᵀ g) are gradients, where 0 · ∞ must be 0 at every order.
    """

    @staticmethod
    @plain
    def forward(ctx, a, b, strong=False):
        ctx.save_for_backward(a, b)
        return _mm(a, b) if strong else torch.matmul(a, b)

    @staticmethod
    @plain
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        a2 = a.unsqueeze(0) if a.dim() == 1 else a      # (…, n, k)
        b2 = b.unsqueeze(-1) if b.dim() == 1 else b     # (…, k, m)
        batch = torch.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        prod = _product()
        ga = gb = None
        if need_a:
            ga = prod(g2, b2.transpose(-1, -2)).sum_to_size(a2.shape).reshape(a.shape)
        if need_b:
            gb = prod(a2.transpose(-1, -2), g2).sum_to_size(b2.shape).reshape(b.shape)
        return ga, gb, None


@plain
def matmul(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Matrix product with torch's broadcasting rules (``torch.matmul``), with strong zeros in
    the backward: a zero factor meeting an infinite one inside a sum contributes 0."""
    if not (isinstance(input, torch.Tensor) and isinstance(other, torch.Tensor)) or \
            not (input.is_floating_point() and other.is_floating_point()) or \
            input.dim() == 0 or other.dim() == 0:
        return torch.matmul(input, other)
    return _MatMul.apply(input, other)


class _Linear(Function):
    """``x Wᵀ + b`` with a strong-zero backward."""

    @staticmethod
    @plain
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return torch.nn.functional.linear(x, w, b)

    @staticmethod
    @plain
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        prod = _product()
        gx = gw = gb = None
        if need_x:
            gx = prod(g2, w).reshape(x.shape)
        if need_w:
            gw = prod(g2.t(), x.reshape(-1, x.shape[-1]))
        if need_b and ctx.has_bias:
            gb = g2.sum(0)
        return gx, gw, gb


@plain
def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
           ) -> torch.Tensor:
    """x Wᵀ + b (``torch.nn.functional.linear``), with strong zeros in the backward.

    Shape: ``input`` (*, in), ``weight`` (out, in), ``bias`` (out), output (*, out).
    """
    if not (input.is_floating_point() and weight.is_floating_point()) or weight.dim() != 2 \
            or input.dim() == 0:
        return torch.nn.functional.linear(input, weight, bias)
    return _Linear.apply(input, weight, bias)

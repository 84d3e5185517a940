"""matmul and linear, as registry rules (``_registry.py``).

``linear`` (what every LinearLayer runs) has a strong-zero backward: its gradients are sums of
products (g W … gᵀ x), and a product with an exactly-zero factor contributes exactly 0 even
when the other factor is infinite or NaN (rule 3). A weight gradient meets that case whenever an
input is exactly 0 and the cotangent is infinite (Sqrt at 0 after a LinearLayer).

    matmul:  y = A B;        gA = g Bᵀ,  gB = Aᵀ g;          ty = tA B + A tB
    linear:  y = x Wᵀ + b;   gx = g W,   gW = gᵀ x,  gb = Σ g;  ty = tx Wᵀ + x tWᵀ + tb

(every product a strong-zero matrix product). Paths:

* eager CPU, first order: torch's matrix products plus one NaN check of each result; only a
  result holding a NaN is recomputed, in chunks, with strong-zero products;
* sync-free (traced, ``torch.func``, non-CPU, :func:`netgrad.ops.sync_free`): *optimistic*,
  torch's products with no read-back, which can hold a NaN only where a 0 · inf met inside a
  sum; under :func:`netgrad.ops.careful` (the trainer's replay of a step whose guard saw a NaN)
  the chunked strong-zero product, which reads nothing back either;
* double backward: the products are the rule ``strong_matmul`` again (differentiable, strong
  zeros at every order).
"""

from __future__ import annotations

import torch

from . import _mode
from ._core import has_nan, plain
from ._registry import R, Rule, register

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
        terms = torch.where((ac == 0) | (bc == 0), 0.0, ac * bc)
        out = out + terms.sum(1)
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
    """The first-order product of a backward on the eager CPU path: torch's, redone carefully
    only if it holds a NaN (one read-back)."""
    r = torch.matmul(a, b)
    return _strong_zero_bmm(a, b) if has_nan(r) else r


def _free_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The sync-free product: torch's (optimistic), or the strong-zero one under careful()."""
    return _strong_zero_bmm(a, b) if _mode.careful_active() else torch.matmul(a, b)


def _prod(ns, a, b):
    """The strong-zero matrix product of a formula (≥2-D operands) in namespace ``ns``."""
    if ns is R:
        return _STRONG(a, b)
    return _free_mm(a, b) if ns.sync_free else _mm(a, b)


def _strong_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The differentiable strong-zero matrix product (≥2-D operands)."""
    return _STRONG(a, b)


def _add(ns, a, b):
    return b if a is None else a if b is None else ns.add(a, b)


# ----------------------------------------------------------------------------- matmul
def _as_matrices(a, b):
    a2 = a.unsqueeze(0) if a.dim() == 1 else a      # (…, n, k)
    b2 = b.unsqueeze(-1) if b.dim() == 1 else b     # (…, k, m)
    return a2, b2


def _out_shape(a, b, a2, b2):
    batch = torch.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    return batch + (a2.shape[-2], b2.shape[-1])


def _matmul_forward(a, b):
    return torch.matmul(a, b)


def _strong_forward(a, b):
    if _mode.sync_free_active(a):
        return _free_mm(a, b)
    return _mm(a, b)


def _matmul_vjp(ns, g, s):
    a, b = s.inputs
    a2, b2 = _as_matrices(a, b)
    g2 = g.reshape(_out_shape(a, b, a2, b2))
    ga = gb = None
    if s.needs[0]:
        ga = _prod(ns, g2, b2.transpose(-1, -2)).sum_to_size(a2.shape).reshape(a.shape)
    if s.needs[1]:
        gb = _prod(ns, a2.transpose(-1, -2), g2).sum_to_size(b2.shape).reshape(b.shape)
    return ga, gb


def _matmul_jvp(ns, ts, s):
    a, b = s.inputs
    ta, tb = ts
    a2, b2 = _as_matrices(a, b)
    shape = _out_shape(a, b, a2, b2)
    out = None
    if ta is not None:
        out = _prod(ns, _as_matrices(ta, b)[0], b2)
    if tb is not None:
        out = _add(ns, out, _prod(ns, a2, _as_matrices(a, tb)[1]))
    if out is None:
        out = a.new_zeros(shape)
    y_shape = list(shape)
    if b.dim() == 1:
        del y_shape[-1]
    if a.dim() == 1:
        del y_shape[-2 if b.dim() > 1 else -1]
    return out.expand(shape).reshape(y_shape)


_MATMUL = register(Rule(
    "matmul", _matmul_forward, 2, _matmul_vjp, _matmul_jvp, saves=(0, 1), optimistic=True,
    public=True,
    derivative="gA = g Bᵀ, gB = Aᵀ g (strong-zero matrix products)",
    convention="a zero factor meeting an infinite or NaN one inside a sum contributes 0 "
               "(optimistic on the sync-free path: exact under careful())"))

_STRONG = register(Rule(
    "strong_matmul", _strong_forward, 2, _matmul_vjp, _matmul_jvp, saves=(0, 1),
    optimistic=True,
    derivative="as matmul; the value is itself a strong-zero product",
    convention="0 · anything = 0 inside every sum of the value and of the gradients (the "
               "products a backward forms, differentiable)"))


@plain
def matmul(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Matrix product with torch's broadcasting rules (``torch.matmul``), with strong zeros in
    the backward: a zero factor meeting an infinite one inside a sum contributes 0."""
    if not (isinstance(input, torch.Tensor) and isinstance(other, torch.Tensor)) or \
            not (input.is_floating_point() and other.is_floating_point()) or \
            input.dim() == 0 or other.dim() == 0:
        return torch.matmul(input, other)
    return _MATMUL(input, other)


# ----------------------------------------------------------------------------- linear
def _linear_forward(x, w, b):
    return torch.nn.functional.linear(x, w, b)


def _linear_vjp(ns, g, s):
    x, w, _ = s.inputs
    g2 = g.reshape(-1, g.shape[-1])
    gx = gw = gb = None
    if s.needs[0]:
        gx = _prod(ns, g2, w).reshape(x.shape)
    if s.needs[1]:
        gw = _prod(ns, g2.t(), x.reshape(-1, x.shape[-1]))
    if s.needs[2]:
        gb = g2.sum(0)
    return gx, gw, gb


def _linear_jvp(ns, ts, s):
    x, w, b = s.inputs
    tx, tw, tb = ts
    out = None
    lead = x.shape[:-1]
    if tx is not None:
        out = _prod(ns, tx.reshape(-1, x.shape[-1]), w.t())
    if tw is not None:
        out = _add(ns, out, _prod(ns, x.reshape(-1, x.shape[-1]), tw.t()))
    if tb is not None:
        rows = x.numel() // x.shape[-1] if x.shape[-1] else lead.numel()
        out = tb.expand(rows, w.shape[0]) if out is None else ns.add(out, tb)
    if out is None:
        out = x.new_zeros(lead + (w.shape[0],))
    return out.reshape(lead + (w.shape[0],))


_LINEAR = register(Rule(
    "linear", _linear_forward, 3, _linear_vjp, _linear_jvp, saves=(0, 1), optimistic=True,
    public=True,
    derivative="gx = g W, gW = gᵀ x, gb = Σ g (strong-zero matrix products)",
    convention="an input entry exactly 0 against an infinite cotangent contributes 0 to the "
               "weight gradient (optimistic on the sync-free path: exact under careful())"))


@plain
def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
           ) -> torch.Tensor:
    """x Wᵀ + b (``torch.nn.functional.linear``), with strong zeros in the backward.

    Shape: ``input`` (*, in), ``weight`` (out, in), ``bias`` (out), output (*, out).
    """
    if not (input.is_floating_point() and weight.is_floating_point()) or weight.dim() != 2 \
            or input.dim() == 0:
        return torch.nn.functional.linear(input, weight, bias)
    return _LINEAR(input, weight, bias)

"""softmax and log_softmax along one dimension, as registry rules (``_registry.py``).

A fully masked slice (all -inf) gives softmax 0 and log_softmax -inf, with gradient 0; a slice
with +inf entries shares the mass evenly among them (the limit). Otherwise the values are
torch's.

    softmax:      y = exp(x) / Σ exp(x);  gx = y ⊙ (g - Σ g ⊙ y);  ty = y ⊙ (t - Σ y ⊙ t)
    log_softmax:  y = x - logsumexp(x);   gx = g - exp(y) ⊙ Σ g;   ty = t - Σ exp(y) ⊙ t

Every ``⊙`` is a strong-zero product (a masked entry, y = 0, contributes an exact 0 even against
an infinite g). Paths: eager CPU checks torch's result by reading one entry per slice and fixes
only the rare NaN slices; its first-order backward is torch's fused kernel, checked the same
way. The sync-free path (traced, ``torch.func``, non-CPU, :func:`netgrad.ops.sync_free`) applies
the fix and the strong zeros as branch-free masks and reads nothing back.
"""

from __future__ import annotations

import torch

from . import _mode
from ._core import has_nan
from ._registry import R, Rule, T, register

__all__ = ["softmax", "log_softmax"]

_INF = float("inf")


def _fix_softmax(x: torch.Tensor, y: torch.Tensor, dim: int, log: bool) -> torch.Tensor:
    """Replace the NaN slices torch produces for all -inf and +inf slices (branch-free)."""
    m = torch.amax(x, dim, keepdim=True)
    masked = m == -_INF
    pinf = x == _INF
    count = pinf.sum(dim, keepdim=True).to(x.dtype)
    share = pinf.to(x.dtype) / count.clamp_min(1)
    has_inf = (m == _INF) & ~torch.isnan(x).any(dim, keepdim=True)
    if log:
        y = torch.where(masked, -_INF, y)
        return torch.where(has_inf, torch.log(share), y)
    y = torch.where(masked, 0.0, y)
    return torch.where(has_inf, share, y)


def _slices_nan(y: torch.Tensor, dim: int) -> bool:
    """Whether torch's (log_)softmax output ``y`` has NaN slices, reading one entry per slice.

    Every slice torch gets wrong (all -inf, a +inf entry, a NaN entry) shares its NaN
    normalizer with all of its entries, so the first entry of each slice tells: a pass over
    1/n of the output instead of all of it.
    """
    if y.dim() == 0 or y.shape[dim] == 0:
        return has_nan(y)
    return has_nan(y.narrow(dim, 0, 1))


def _slices_nonfinite(t: torch.Tensor, dim: int) -> bool:
    """Whether the first entry of some slice of ``t`` along ``dim`` is inf or NaN."""
    if t.dim() == 0 or t.shape[dim] == 0:
        return True
    return not bool(torch.isfinite(t.narrow(dim, 0, 1)).all())


def _softmax_grad_nan_free(gx: torch.Tensor, g: torch.Tensor, y: torch.Tensor, dim: int) -> bool:
    """Whether ``gx = y ⊙ (g - s)`` (torch's softmax backward, ``s = Σ g ⊙ y`` per slice) is
    free of NaN, reading one entry per slice instead of all of ``gx``.

    A NaN or infinite entry of ``g`` or ``y`` makes ``s`` non-finite (∞·y, ∞·0 = NaN), and then
    every entry of its slice, the first included, is non-finite. With ``s`` finite and ``g``,
    ``y`` finite, an entry is NaN only as ``0 · ∞``: ``y = 0`` against ``g - s`` overflowing,
    which needs ``|s|`` of at least half the last ulp below the largest float. The first entry
    bounds ``|s| ≤ |g₀| + |gx₀| / y₀`` (to rounding; ``y₀ = 0`` gives no bound, and a
    non-finite ``gx₀`` none either): when every slice's bound is below a quarter ulp of the
    largest float, no entry of ``gx`` can be NaN.
    """
    if gx.dim() == 0 or gx.shape[dim] < 8 or gx.numel() < 1 << 15 or g.shape != gx.shape:
        return False  # short slices or a small tensor: the full check is as cheap
    fi = torch.finfo(gx.dtype)
    g0, y0, gx0 = g.narrow(dim, 0, 1), y.narrow(dim, 0, 1), gx.narrow(dim, 0, 1)
    bound = torch.addcdiv(torch.abs(g0), torch.abs(gx0), y0)  # NaN or inf: no bound
    return torch.amax(bound).item() < fi.max * fi.eps / 8  # (NaN compares False)


# ----------------------------------------------------------------------------- softmax
def _softmax_forward(x, dim):
    y = torch.softmax(x, dim)
    if _mode.sync_free_active(x) or _slices_nan(y, dim):
        y = _fix_softmax(x, y, dim, log=False)
    return y


def _softmax_vjp(ns, g, s):
    y, (dim,) = s.y, s.params
    gy = ns.mul(g, y)
    return (ns.mul(y, ns.sub(g, ns.sum(gy, dim, keepdim=True))),)


def _softmax_jvp(ns, ts, s):
    y, (dim,) = s.y, s.params
    (t,) = ts
    return ns.mul(y, ns.sub(t, ns.sum(ns.mul(y, t), dim, keepdim=True)))


def _softmax_fast(g, s):
    """torch's fused backward, kept when it provably holds no NaN (one entry per slice);
    else the formula with strong zeros for the slices where torch's holds a NaN."""
    y, (dim,) = s.y, s.params
    gx = torch._softmax_backward_data(g, y, dim, y.dtype)
    if _softmax_grad_nan_free(gx, g, y, dim):
        return (gx,)
    (careful,) = _softmax_vjp(T, g, s)
    return (torch.where(torch.isnan(gx).any(dim, keepdim=True), careful, gx),)


_SOFTMAX = register(Rule(
    "softmax", _softmax_forward, 1, _softmax_vjp, _softmax_jvp, fast=_softmax_fast,
    save_output=True,
    public=True,
    derivative="y ⊙ (g - Σ g ⊙ y)",
    convention="an all -inf slice gives 0 with gradient 0; +inf entries share the mass evenly; "
               "y = 0 times an infinite g is 0"))


# ----------------------------------------------------------------------------- log_softmax
_NO_MASK = torch.zeros(0, dtype=torch.bool)


def _log_softmax_forward(x, dim):
    """``(y, masked)``: ``masked`` marks the all -inf slices (an empty tensor when the eager
    check found none, so the backward skips the mask)."""
    y = torch.log_softmax(x, dim)
    if _mode.sync_free_active(x) or _slices_nan(y, dim):
        return _fix_softmax(x, y, dim, log=True), torch.amax(x, dim, keepdim=True) == -_INF
    return y, _NO_MASK


def _masked_zero(ns, masked, gx):
    if masked.numel() == 0:
        return gx
    if ns is R:
        return ns.where(masked, 0.0, gx)
    return torch.where(masked, 0.0, gx)


def _log_softmax_vjp(ns, g, s):
    y, (masked,), (dim,) = s.y, s.aux, s.params
    gx = ns.sub(g, ns.mul(ns.exp(y), ns.sum(g, dim, keepdim=True)))
    return (_masked_zero(ns, masked, gx),)


def _log_softmax_jvp(ns, ts, s):
    y, (masked,), (dim,) = s.y, s.aux, s.params
    (t,) = ts
    ty = ns.sub(t, ns.sum(ns.mul(ns.exp(y), t), dim, keepdim=True))
    return _masked_zero(ns, masked, ty)


def _log_softmax_fast(g, s):
    """torch's fused backward; gx = g - exp(y)·Σg is NaN only where exp(y) = 0 meets an
    infinite Σg (or g, y are NaN), and a non-finite Σg makes every entry of its slice
    non-finite: one entry per slice tells whether the formula (strong zeros) is needed."""
    y, (masked,), (dim,) = s.y, s.aux, s.params
    gx = torch._log_softmax_backward_data(g, y, dim, y.dtype)
    if _slices_nonfinite(gx, dim) and has_nan(gx):
        return None
    if masked.numel():
        gx.masked_fill_(masked, 0.0)
    return (gx,)


_LOG_SOFTMAX = register(Rule(
    "log_softmax", _log_softmax_forward, 1, _log_softmax_vjp, _log_softmax_jvp,
    fast=_log_softmax_fast, save_output=True, n_aux=1,
    public=True,
    derivative="g - exp(y) ⊙ Σ g",
    convention="an all -inf slice gives -inf with gradient 0; exp(y) = 0 times an infinite Σ g "
               "is 0"))


def _prepare(x, dim, dtype):
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if x.dim() in (0, 1, 3) else 1
    return x, dim


def softmax(input: torch.Tensor, dim: int | None = None, dtype=None) -> torch.Tensor:
    """exp(x) / Σ exp(x) along ``dim``. Gradient y ⊙ (g - Σ g ⊙ y); a fully masked (all -inf)
    slice gives 0 with gradient 0."""
    x, dim = _prepare(input, dim, dtype)
    if not x.is_floating_point():
        return torch.softmax(x, dim)
    return _SOFTMAX(x, dim % max(x.dim(), 1))


def log_softmax(input: torch.Tensor, dim: int | None = None, dtype=None) -> torch.Tensor:
    """x - logsumexp(x) along ``dim``. Gradient g - exp(y) ⊙ Σ g; a fully masked slice gives
    -inf with gradient 0."""
    x, dim = _prepare(input, dim, dtype)
    if not x.is_floating_point():
        return torch.log_softmax(x, dim)
    return _LOG_SOFTMAX(x, dim % max(x.dim(), 1))

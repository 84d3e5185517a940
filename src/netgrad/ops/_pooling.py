"""Pooling over 1, 2 or 3 spatial dimensions: max, mean, total, LP and power mean.

Inputs are channel-first, ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``. LP and power-mean
pooling take ``p`` as a number or as a tensor that may require grad: 0-d (one ``p``) or ``(C,)``
(one per channel).

Derivative rules, for one window of ``n`` elements (``a = |x|``, ``y`` the pooled value,
``D_i = log(a_i / y)``, ``g`` the incoming gradient of ``y``):

=============  ============================  ================================  ============================
op             y                             dy/dx_i                           dy/dp
=============  ============================  ================================  ============================
max            max x                         1/k on the k tied maxima, else 0  -
mean           Σ x / n_in                    1 / n_in                          -
total          Σ x                           1                                 -
lp             (Σ a^p)^(1/p)                 sgn(x_i) exp((p-1) D_i)           (y/p) Σ e^{p D_i} D_i
power mean     (Σ a^p / n_in)^(1/p)          sgn(x_i) exp((p-1) D_i) / n_in    (y/p) Σ e^{p D_i} D_i / n_in
power mean 0   exp(mean log a)  (p = 0)      sgn(x_i) exp(-D_i) / n_in         y Var(log a) / 2
=============  ============================  ================================  ============================

Edge-case conventions (the gradient contract):

* ``x_i = 0``: gradient 0 for that element (|x| has a kink there: minimum-norm subgradient),
  whatever ``p`` is; an all-zero window gives ``y = 0`` and gradient 0 for ``x`` and ``p``.
* Ties in max pooling split the gradient evenly. LP and power mean with ``p → ∞`` tend to the
  same split, and compute it: ``exp((p-1) D_i) → 1/k`` on the ``k`` tied maxima.
* A zero incoming gradient gives exactly zero, even where the local derivative overflows.
* Sums of ``a^p`` are formed relative to the window maximum ``m``
  (``(Σ a^p)^(1/p) = m (Σ (a/m)^p)^(1/p)``) and with ``expm1`` (``Σ (a/m)^p = n + Σ expm1(p log(a/m))``,
  every term of one sign), so float32 results are finite whenever the true value is, and
  ``p → 0`` in the power mean reaches the geometric mean without cancellation; ``p = 0`` itself
  is the geometric mean.
* Padding (and the partial windows of ``ceil_mode``) adds zeros: they count in LP and total
  pooling as zeros do, are never the maximum, and are left out of ``n_in`` for the means (the
  mean of a border window is the mean of its in-bounds elements).

The first-order backward is fused (a few elementwise passes over the windows, reusing the
forward's logarithms). When a backward runs with ``create_graph=True``, it is recomputed instead
from a composite of elementwise powers with their own robust derivatives (the ``pow_log`` rule),
so double backward keeps the same conventions (verified by gradgradcheck in float64).

Known accuracy limits (measured against 50-digit mpmath, see tests/ops/test_pooling.py):

* ``dy/dp`` is accurate to about ``eps · y/p`` in absolute terms, not always relative to its own
  size: when the non-maximal elements of a window weigh less than ``eps`` (``(a_i/m)^p < eps``,
  e.g. p = 100 and a_i/m < 0.7), their contribution, which is then the whole of a tiny
  ``dy/dp``, is lost. For the power mean at small ``p`` the error is about ``eps·|log a|/p``
  (a difference of O(1) terms that is O(p)).
* The ``create_graph=True`` path is plainer in float32: it forms ``|x/m|^p`` directly, so windows
  spanning more than the float range (ratios below ~1e-38), ``|x|`` near the overflow limit with
  ``p < 1``, and ``p`` below about 1e-2 lose accuracy there (first-order results come from the
  fused path and are unaffected).
"""

from __future__ import annotations

import math

import torch

from .._errors import NetValueError
from ._pool_max import (max_pool1d, max_pool2d, max_pool3d, mean_pool1d, mean_pool2d, mean_pool3d,
                        total_pool1d, total_pool2d, total_pool3d)
from . import _mode
from ._core import plain as _plain
from ._pool_windows import _NEG_INF, _Windows, _batched, _traced
from ._registry import R, Rule, register

_functorch_active = torch._C._are_functorch_transforms_active

__all__ = [
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "power_mean_pool1d", "power_mean_pool2d", "power_mean_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "mean_pool1d", "mean_pool2d", "mean_pool3d",
    "total_pool1d", "total_pool2d", "total_pool3d",
]


def _power(p, x: torch.Tensor, d: int, where: str, *, mean: bool) -> torch.Tensor:
    """``p`` as a tensor of shape ``(1, C or 1, 1, ...)`` matching the windowed view."""
    check = True
    if not isinstance(p, torch.Tensor):
        p = torch.tensor(float(p))
    elif _mode.sync_free_active(x):
        # a tensor p is not read back on the sync-free path: out of range, it gives NaN, which
        # netgrad.train's guard reports
        check = False
    if p.dim() > 1 or (p.dim() == 1 and p.numel() not in (1, x.shape[1])):
        raise NetValueError("p must be a number, a 0-d tensor, or one value per channel",
                            where=where, got=f"got p of shape {tuple(p.shape)} for "
                            f"{x.shape[1]} channels", fix=f"give p of shape () or ({x.shape[1]},)")
    with torch.no_grad():
        bad = ~torch.isfinite(p) | (p < 0 if mean else p < _P_TINY)
        if check and bool(bad.any()):
            rule = "p must be finite and ≥ 0" if mean else "p must be finite and ≥ 2^-100"
            raise NetValueError(rule, where=where, got=f"got p = {p.detach().cpu().tolist()}",
                                fix="for p → ∞ use max pooling")
    p = p.to(dtype=x.dtype, device=x.device)
    return p.reshape((1, -1) + (1,) * (2 * d))


# ---- LP and power mean ---------------------------------------------------------------------------
#: Below this, p counts as 0 in a power mean (the geometric mean; the difference is O(p)).
_P_TINY = 2.0 ** -100


def _zero_p(p, mean: bool, free: bool):
    """Whether some ``p`` counts as 0 (the geometric mean): decided by a read on the eager CPU
    path, assumed possible on the sync-free path (both formulas are then formed)."""
    if not mean:
        return False
    return True if free else bool((p < _P_TINY).any())


def _power_forward(x, p, win: _Windows, mean: bool):
    """(Σ |x|^p)^(1/p) (``mean=False``) or (Σ |x|^p / n_in)^(1/p) (``mean=True``) per window,
    with the backward's window quantities as aux outputs. ``p`` has the window-level
    broadcast shape ``(1, C or 1, 1, ...)``."""
    free = _mode.sync_free_active(x)
    xw = win.view(x)
    a = xw.abs()
    m = win.reduce(a, "max", inplace=not _traced())
    alive = m > 0  # windows that are not all zero
    L = _log_ratio(a, torch.where(alive, m, 1.0), xw, win, free)
    if mean and win.padded:
        L = L.masked_fill(win.pad_mask(x), 0.0)  # padding: weightless and not counted
    em = torch.mul(L, p)
    em = em.expm1() if _traced() else em.expm1_()  # (a/m)^p - 1 ∈ [-1, 0]: one sign
    n = win.counts(x) if mean else float(win.size)
    t = win.reduce(em, "sum", inplace=not _traced())
    tn = t + n  # Σ (a/m)^p (0 for an all-zero window)
    z = (torch.log1p(t / n) if mean else torch.log(tn)) / p  # log(y/m)
    if _zero_p(p, mean, free):  # the geometric mean, exactly
        z = torch.where(p < _P_TINY, win.reduce(L, "sum", inplace=not _traced()) / n, z)
    y = m * torch.exp(z)
    low = z < math.log(torch.finfo(x.dtype).tiny) + 1  # e^z subnormal: y may still be normal
    if free or bool(low.any()):
        y = torch.where(low & alive, torch.exp(z + torch.log(m)), y)
    return win.squeeze(y), L, em, alive, z.masked_fill(~alive, 0.0), tn


def _power_vjp(ns, g, s):
    """The fused first-order gradients (a few elementwise passes reusing the forward's
    logarithms) on the eager and sync-free paths; a differentiable recomputation from
    :func:`_composite` when the backward is itself recorded."""
    x, p = s.inputs
    win, mean = s.params
    if ns is R:  # create_graph
        return _composite_grads(x, p, g, win, mean, s.needs)
    e, dp = _power_factors(s, win.keep(g), ns.sync_free, s.needs)
    gx = win.fold(e, x.shape, functional=_traced()) if e is not None else None
    gp = dp.sum_to_size(p.shape) if dp is not None else None
    return gx, gp


def _power_factors(s, gk, free: bool, needs):
    """``g ⊙ dy/dx`` (windowed, before the fold) and ``g ⊙ dy/dp`` (window-level), for a
    window-level cotangent ``gk``."""
    x, p = s.inputs
    win, mean = s.params
    y = win.keep(s.y)
    L, em, alive, zs, tn = s.aux
    n = win.counts(x) if mean else float(win.size)
    # a finite cotangent needs no strong-zero masks; the sync-free path always masks
    finite_g = False if free else bool(torch.isfinite(gk.sum()))
    buf = e = dp = None
    if needs[1]:
        buf = torch.addcmul(L, em, L)  # (a/m)^p log(a/m); exactly 0 at zeros and padding
        inner = torch.addcmul(win.reduce(buf, "sum", inplace=not _traced()), zs, tn,
                              value=-1.0)  # Σ e^{pL}(L - z)
        dp = torch.where(alive, y / (p * tn), 0.0) * inner
        if _zero_p(p, mean, free):  # p = 0: y Var(log a) / 2 (and 0 when a zero makes y = 0)
            var = _window_var(L, win, x, n)
            dp = torch.where(p < _P_TINY, torch.where(y > 0, y * var / 2, 0.0), dp)
        dp = dp * gk
        if not finite_g:
            dp = torch.where((gk == 0) | ~alive, 0.0, dp)
    if needs[0]:
        # dy/dx_i = sgn(x_i) c exp((p-1)(L_i - z)), c = 1/n for the mean.
        pm1 = p - 1
        logc = -torch.log(n) if mean and isinstance(n, torch.Tensor) else \
            (-math.log(n) if mean else 0.0)
        simple = finite_g and bool((p > 1).all())
        # p > 1: the factor is ≤ n, and exactly 0 at x_i = 0 and in all-zero windows
        # (pm1 · floor ≪ 0). Otherwise fold log|g| into the exponent (strong zero) and mask
        # the kink and the all-zero windows.
        base = logc - pm1 * zs
        if not simple:
            base = torch.where(alive, base + torch.log(gk.abs()), _NEG_INF)
        xw = win.view(x)
        if _traced():  # out of place (no writes into fresh buffers under tracing)
            e = (base + L * pm1).exp().copysign(xw) * torch.sign(gk)
            e = e.masked_fill(xw == 0, 0.0)
        else:
            e = torch.empty_like(L) if buf is None else buf
            torch.addcmul(win.spread(base), win.wide(L), win.spread(pm1), out=win.wide(e))
            e.exp_().copysign_(xw)
            if simple:
                win.wide(e).mul_(win.spread(gk))
            else:
                win.wide(e).mul_(win.spread(torch.sign(gk)))
                e.masked_fill_(xw == 0, 0.0)
    return e, dp


def _power_jvp(ns, ts, s):
    """The tangent Σ dy/dx_i t_i + dy/dp t_p, from the fused factors at a unit cotangent
    (strong-zero products with the tangents)."""
    win = s.params[0]
    tx, tp = ts[0], ts[1]
    e, dp = _power_factors(s, win.keep(torch.ones_like(s.y)), True,
                           (tx is not None, tp is not None))
    out = torch.zeros_like(win.keep(s.y))
    if e is not None:
        out = out + win.reduce(ns.mul(e, win.view(tx)), "sum", inplace=False)
    if dp is not None:
        out = out + ns.mul(dp, tp)
    return win.squeeze(out)


_power_rule = register(Rule(
    "power_pool", _power_forward, 2, _power_vjp, _power_jvp, saves=(0, 1), save_output=True,
    n_aux=5,
    derivative="dy/dx_i = sgn(x_i) c exp((p-1) D_i), dy/dp = (y/p) Σ e^{p D_i} D_i c, "
               "D_i = log(|x_i|/y), c = 1 (LP) or 1/n_in (power mean)",
    convention="x_i = 0: 0; an all-zero window: y = 0 and gradient 0 for x and p; p = 0 "
               "(power mean): the geometric mean, dy/dp = y Var(log|x|)/2; padding adds zeros "
               "(left out of n_in for the mean)"))


def _log_ratio(a, m_s, xw, win, free: bool = False):
    """``log(a/m)`` in place of ``a``, in ``[floor, 0]``.

    The ratio is exact to rounding unless it underflows (a window spanning more than the
    float's range); those elements take ``log a - log m`` instead. Zeros get a finite floor
    instead of ``-inf``, which keeps later products finite (``p·floor ≪ 0``, so ``(a/m)^p`` is
    exactly 0).
    """
    tiny = torch.finfo(a.dtype).tiny
    floor = -torch.finfo(a.dtype).max / 4
    if free:  # branch-free: both forms, no read-back
        L = (a / m_s).log()
        under = (L < math.log(tiny)) & (xw != 0)
        L = torch.where(under, torch.log(xw.abs()) - torch.log(m_s), L)
        return L.clamp_min(floor)
    win.wide(a).div_(win.spread(m_s))
    L = a.log_()
    if bool(L.amin() < math.log(tiny)):  # zeros, or ratios below the normal range
        under = (L < math.log(tiny)) & (xw != 0)
        if bool(under.any()):
            L = torch.where(under, torch.log(xw.abs()) - torch.log(m_s), L)
        L.clamp_min_(floor)
    return L


def _window_var(L, win, x, n):
    """Population variance of log a over each window's in-bounds elements."""
    mu = win.reduce(L, "sum") / n
    dev = L - mu
    if win.padded:
        dev = dev.masked_fill(win.pad_mask(x), 0.0)
    return win.reduce(dev * dev, "sum") / n


def _composite(x, p, win: _Windows, mean: bool) -> torch.Tensor:
    """The same pooling as the ``power_pool`` rule, from robust elementwise powers (any order):
    what ``create_graph=True`` differentiates, and what ``torch.func`` transforms run."""
    xw = win.view(x)
    kd = win.kdims
    with torch.no_grad():
        m = xw.abs().amax(kd, keepdim=True)
        nonzero = m > 0
        m = torch.where(nonzero, m, 1.0)
    u = xw / m  # y is homogeneous of degree 1, so a constant m is exact at every order
    n = win.counts(x) if mean else 1.0
    zero_p = p < _P_TINY if mean else torch.zeros_like(p, dtype=torch.bool)
    p_s = torch.where(zero_p, 1.0, p)
    s = _pow_log(u, p_s, 0, 0).sum(kd, keepdim=True) / n
    s = torch.where(nonzero, s, 1.0)
    z = torch.log(s) / p_s
    if mean and (_mode.sync_free_active(x) or bool(zero_p.any())):
        # p = 0: z = κ1 + p κ2/2 + p² κ3/6 (cumulants of log|u|) has the exact value and the
        # exact first and second derivatives in p there; a zero element makes y = 0.
        zero_el = u == 0
        if win.padded:
            pad = win.pad_mask(x)
            zero_el = zero_el & ~pad
        else:
            pad = torch.zeros((), dtype=torch.bool, device=u.device)
        has_zero = zero_el.any(kd, keepdim=True) if kd else zero_el
        skip = zero_el | pad
        logs = torch.where(skip, 0.0, _pow_log(torch.where(skip, 1.0, u),
                                               torch.zeros_like(p), 1, 0))
        mu = logs.sum(kd, keepdim=True) / n
        dev = torch.where(skip, 0.0, logs - mu)
        k2 = (dev * dev).sum(kd, keepdim=True) / n
        k3 = (dev * dev * dev).sum(kd, keepdim=True) / n
        z0 = torch.where(has_zero, _NEG_INF, mu + p * k2 / 2 + p * p * k3 / 6)
        z = torch.where(zero_p, z0, z)
    y = torch.where(nonzero, m * torch.exp(z), 0.0)
    return win.squeeze(y)


def _composite_grads(x, p, g, win: _Windows, mean: bool, needs):
    need = [i for i in (0, 1) if needs[i]]
    with torch.enable_grad():
        y = _composite(x, p, win, mean)
        got = torch.autograd.grad(y, [(x, p)[i] for i in need], g, create_graph=True,
                                  allow_unused=True)
    out = [None, None]
    for i, gr in zip(need, got):
        out[i] = gr if gr is not None else torch.zeros_like((x, p)[i])
    return tuple(out)


def _pow_log_forward(u, r, k: int, s: int):
    """``sgn(u)^s |u|^r (log|u|)^k`` elementwise, with derivatives in the same family.

    d/du = sgn^{s+1}(r |u|^{r-1} log^k + k |u|^{r-1} log^{k-1}), d/dr = the same with k + 1.
    At u = 0 the value is the limit from u → 0 for even ``s`` (0 if r > 0; 1 if r = k = 0;
    ±inf otherwise) and 0 for odd ``s`` (a kink or cusp: the symmetric convention). Where that
    0 is only a convention (odd ``s``, r ≤ 0), the derivative there is 0 too.
    """
    a = u.abs()
    la = torch.where(a > 0, torch.log(a), 0.0)
    val = torch.exp(r * la)
    if k:
        val = val * la ** k
    if s % 2:
        val = val * torch.sign(u)
    else:
        at0 = torch.where(r > 0, 0.0, torch.where(r < 0, math.inf * (-1.0) ** k,
                                                  1.0 if k == 0 else _NEG_INF ** k))
        val = torch.where(a > 0, val, at0)
    return val


def _pow_log_partials(ns, u, r, k: int, s: int):
    """(d/du, d/dr) of :func:`_pow_log_forward`, as the rule itself on the recorded path (so
    they differentiate again) and as plain torch otherwise."""
    pl = _pow_log if ns is R else _pow_log_forward
    du = ns.mul(r, pl(u, r - 1, k, s + 1))
    if k:
        du = du + k * pl(u, r - 1, k - 1, s + 1)
    if s % 2:  # r ≤ 0: the value at u = 0 is a convention (0), and so is its slope
        du = torch.where((u == 0) & (r <= 0), 0.0, du)
    return du, pl(u, r, k + 1, s)


def _pow_log_vjp(ns, g, s):
    u, r = s.inputs
    du, dr = _pow_log_partials(ns, u, r, *s.params)
    gu = ns.mul(g, du) if s.needs[0] else None
    gr = s.sum_to(ns.mul(g, dr), 1) if s.needs[1] else None
    return gu, gr


def _pow_log_jvp(ns, ts, s):
    u, r = s.inputs
    du, dr = _pow_log_partials(ns, u, r, *s.params)
    out = None
    for t, d in zip(ts, (du, dr)):
        if t is not None:
            term = ns.mul(t, d)
            out = term if out is None else out + term
    assert out is not None
    return out.expand(u.shape).clone() if out.shape != u.shape else out


_pow_log = register(Rule(
    "pow_log", _pow_log_forward, 2, _pow_log_vjp, _pow_log_jvp, saves=(0, 1),
    derivative="d/du = sgn^(s+1) (r |u|^(r-1) log^k + k |u|^(r-1) log^(k-1)); d/dr: k + 1",
    convention="u = 0: the limit from u → 0 (even s), 0 for odd s with slope 0 where r ≤ 0; "
               "strong zeros in every product (the power-mean pooling's composite)"))


@_plain
def _power_pool(x, p, kernel_size, stride, ceil_mode, padding, d: int, mean: bool, name: str):
    where = f"ops.{name}"
    x, unbatched = _batched(x, d, where)
    win = _Windows(x.shape[2:], kernel_size, stride, padding, ceil_mode, where)
    pp = _power(p, x, d, where, mean=mean)
    if _functorch_active():  # transforms of any order: the composite of robust powers
        y = _composite(x, pp, win, mean)
    else:
        y = _power_rule(x, pp, win, mean)
    return y.squeeze(0) if unbatched else y


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """LP pooling ``(Σ |x|^p)^(1/p)`` over windows of the last dimension.

    Like :func:`torch.nn.functional.lp_pool1d`, but on ``|x|`` (negative inputs are fine), with
    ``norm_type`` (``p``) a number or a tensor that may require grad, and with gradients that keep
    the contract (see the module docstring). ``p`` must be finite and > 0; ``p → ∞`` tends to the
    maximum of ``|x|``.

    Shape:
        - input: ``(N, C, L)`` or ``(C, L)``.
        - norm_type: a number, a 0-d tensor, or ``(C,)``.
        - output: ``(N, C, L_out)`` or ``(C, L_out)``; ``stride`` defaults to ``kernel_size``.
    """
    return _power_pool(input, norm_type, kernel_size, stride, ceil_mode, padding, 1, False,
                       "lp_pool1d")


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """LP pooling over 2 spatial dimensions: ``(N, C, H, W)`` or ``(C, H, W)``.

    See :func:`lp_pool1d`; ``kernel_size``, ``stride`` and ``padding`` are ints or pairs.
    """
    return _power_pool(input, norm_type, kernel_size, stride, ceil_mode, padding, 2, False,
                       "lp_pool2d")


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """LP pooling over 3 spatial dimensions: ``(N, C, D, H, W)`` or ``(C, D, H, W)``.

    See :func:`lp_pool1d`; ``kernel_size``, ``stride`` and ``padding`` are ints or triples.
    """
    return _power_pool(input, norm_type, kernel_size, stride, ceil_mode, padding, 3, False,
                       "lp_pool3d")


def power_mean_pool1d(input, p, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """Power-mean (generalized-mean, GeM) pooling ``(mean |x|^p)^(1/p)`` over windows.

    ``p`` is a number or a tensor that may require grad, finite and ≥ 0: ``p = 1`` is the mean
    of ``|x|``, ``p = 0`` (and the limit ``p → 0``) the geometric mean, ``p → ∞`` the maximum.
    The mean is over each window's in-bounds elements (padding is not counted).

    Shape:
        - input: ``(N, C, L)`` or ``(C, L)``.
        - p: a number, a 0-d tensor, or ``(C,)``.
        - output: ``(N, C, L_out)`` or ``(C, L_out)``; ``stride`` defaults to ``kernel_size``.
    """
    return _power_pool(input, p, kernel_size, stride, ceil_mode, padding, 1, True,
                       "power_mean_pool1d")


def power_mean_pool2d(input, p, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """Power-mean pooling over 2 spatial dimensions: ``(N, C, H, W)`` or ``(C, H, W)``.

    See :func:`power_mean_pool1d`.
    """
    return _power_pool(input, p, kernel_size, stride, ceil_mode, padding, 2, True,
                       "power_mean_pool2d")


def power_mean_pool3d(input, p, kernel_size, stride=None, ceil_mode=False, *, padding=0):
    """Power-mean pooling over 3 spatial dimensions: ``(N, C, D, H, W)`` or ``(C, D, H, W)``.

    See :func:`power_mean_pool1d`.
    """
    return _power_pool(input, p, kernel_size, stride, ceil_mode, padding, 3, True,
                       "power_mean_pool3d")

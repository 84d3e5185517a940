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

The first-order backward is fused (one pass over the windows, reusing the forward's logarithms).
When a backward runs with ``create_graph=True``, it is recomputed instead from a composite of
elementwise powers with their own robust derivatives (:class:`_PowLog`), so double backward
keeps the same conventions. Its accuracy in float32 is lower for ``p`` below about ``1e-2``
(the composite forms ``(Σ u^p)^(1/p)`` directly).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._errors import NetTypeError, NetValueError

__all__ = [
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "power_mean_pool1d", "power_mean_pool2d", "power_mean_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "mean_pool1d", "mean_pool2d", "mean_pool3d",
    "total_pool1d", "total_pool2d", "total_pool3d",
]

_NEG_INF = float("-inf")


# ---- window geometry ---------------------------------------------------------------------------
class _Windows:
    """Where the windows of a pooling fall: output size, padding, in-bounds counts.

    :meth:`view` turns ``(N, C, *spatial)`` into a windowed tensor whose kernel dimensions are
    ``kdims``; window-level tensors have size 1 there (``(N, C, *out)`` ↔ :meth:`keep`). When the
    windows tile the input exactly (stride = kernel, no padding, sizes divisible), the view is a
    plain reshape ``(N, C, o1, k1, o2, k2, ...)``, so elementwise results are already laid out
    as the input; otherwise it is an unfold ``(N, C, *out, *kernel)`` after zero padding, and
    :meth:`fold` is its adjoint.
    """

    def __init__(self, spatial: Sequence[int], kernel, stride, padding, ceil_mode: bool,
                 where: str) -> None:
        d = len(spatial)
        self.d = d
        self.spatial = tuple(spatial)
        self.kernel = _tuple(kernel, d, "kernel_size", where, minimum=1)
        self.stride = self.kernel if stride is None or stride == [] or stride == () else \
            _tuple(stride, d, "stride", where, minimum=1)
        self.padding = _tuple(padding, d, "padding", where, minimum=0)
        self.ceil_mode = bool(ceil_mode)
        out, hi = [], []
        for length, k, s, pd in zip(self.spatial, self.kernel, self.stride, self.padding):
            if pd > k // 2:
                raise NetValueError(f"padding must be at most half the kernel size ({k // 2})",
                                    where=where, got=f"got padding {self.padding} for kernel "
                                    f"{self.kernel}", fix="use a smaller padding")
            span = length + 2 * pd - k
            if span < 0:
                raise NetValueError("each spatial dimension (with padding) must be at least "
                                    "the kernel size", where=where,
                                    got=f"got spatial size {self.spatial} for kernel "
                                    f"{self.kernel} and padding {self.padding}",
                                    fix="use a smaller kernel or more padding")
            o = (-(-span // s) if ceil_mode else span // s) + 1
            if ceil_mode and (o - 1) * s >= length + pd:
                o -= 1  # the last window would start in the right padding (PyTorch's rule)
            out.append(o)
            hi.append(max(pd, (o - 1) * s + k - length - pd))
        self.out = tuple(out)
        self.pads = tuple(v for lo, h in zip(reversed(self.padding), reversed(hi)) for v in (lo, h))
        self.padded = any(self.pads)
        self.overlapping = any(s < k for s, k in zip(self.stride, self.kernel))
        self.size = math.prod(self.kernel)
        self.tiling = not self.padded and all(
            s == k and o * k == n for s, k, o, n in zip(self.stride, self.kernel, self.out,
                                                         self.spatial))
        self.kdims = tuple(3 + 2 * i for i in range(d)) if self.tiling else \
            tuple(range(2 + d, 2 + 2 * d))

    def view(self, t: torch.Tensor, pad_value: float = 0.0) -> torch.Tensor:
        if self.tiling:
            return t.reshape(t.shape[:2] + tuple(v for o, k in zip(self.out, self.kernel)
                                                 for v in (o, k)))
        if self.padded:
            t = F.pad(t, self.pads, value=pad_value)
        for i, (k, s, o) in enumerate(zip(self.kernel, self.stride, self.out)):
            t = t.unfold(2 + i, k, s).narrow(2 + i, 0, o)
        return t

    def keep(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, C, *out)`` → the window-level shape that broadcasts against :meth:`view`."""
        if self.tiling:
            return y.reshape(y.shape[:2] + tuple(v for o in self.out for v in (o, 1)))
        return y.reshape(y.shape + (1,) * self.d)

    def squeeze(self, y: torch.Tensor) -> torch.Tensor:
        return y.reshape(y.shape[:2] + self.out)

    def reduce(self, t: torch.Tensor, op: str) -> torch.Tensor:
        """Sum (``op="sum"``) or max over each window, window-level shape.

        Slice by slice over the kernel dimensions: much faster than ``amax``/``sum`` over the
        small, strided kernel dimensions.
        """
        fn = torch.add if op == "sum" else torch.maximum
        for dim in sorted(self.kdims, reverse=True):
            k = t.shape[dim]
            if k == 1:
                continue
            r = fn(t.select(dim, 0), t.select(dim, 1))
            for j in range(2, k):
                fn(r, t.select(dim, j), out=r)
            t = r.unsqueeze(dim)
        return t

    def counts(self, like: torch.Tensor) -> torch.Tensor | float:
        """In-bounds elements per window, window-level (a float when every window is full)."""
        if not self.padded:
            return float(self.size)
        return self.reduce(self.pad_mask(like).logical_not().to(like.dtype), "sum")

    def pad_mask(self, like: torch.Tensor) -> torch.Tensor:
        """True at padded positions, broadcastable against :meth:`view`."""
        ones = torch.ones((1, 1) + self.spatial, dtype=like.dtype, device=like.device)
        return self.view(ones) == 0

    def fold(self, gw: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The adjoint of :meth:`view`: sum windowed values back onto the input."""
        if self.tiling:
            return gw.reshape(shape)
        full = gw.new_zeros(shape[:2] + tuple(
            n + self.pads[2 * (self.d - 1 - i)] + self.pads[2 * (self.d - 1 - i) + 1]
            for i, n in enumerate(self.spatial)))
        if not self.overlapping:
            self._unfold(full).copy_(gw)
        else:
            for offs in itertools.product(*(range(k) for k in self.kernel)):
                idx = (Ellipsis,) + tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n
                                          in zip(offs, self.stride, self.out))
                full[idx] += gw[(Ellipsis,) + tuple(slice(None) for _ in self.out) + offs]
        if self.padded:
            full = full[(Ellipsis,) + tuple(slice(p, p + n) for p, n in
                                            zip(self.padding, self.spatial))]
        return full

    def _unfold(self, full: torch.Tensor) -> torch.Tensor:
        for i, (k, s, o) in enumerate(zip(self.kernel, self.stride, self.out)):
            full = full.unfold(2 + i, k, s).narrow(2 + i, 0, o)
        return full


def _tuple(value, d: int, name: str, where: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise NetTypeError(f"{name} must be an int or a tuple of {d} ints", where=where,
                           got=f"got {value!r}")
    if isinstance(value, int):
        value = (value,) * d
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise NetTypeError(f"{name} must be an int or a tuple of {d} ints", where=where,
                           got=f"got {value!r}") from None
    if len(out) == 1 and d > 1:
        out = out * d
    if len(out) != d or any(v < minimum for v in out):
        raise NetValueError(f"{name} must be {d} int(s), each at least {minimum}", where=where,
                            got=f"got {value!r}")
    return out


def _batched(x, d: int, where: str) -> tuple[torch.Tensor, bool]:
    if not isinstance(x, torch.Tensor):
        raise NetTypeError("input must be a torch.Tensor", where=where,
                           got=f"got {type(x).__name__}")
    if x.dim() == d + 1:
        return x.unsqueeze(0), True
    if x.dim() != d + 2:
        raise NetValueError(f"input must be (N, C, {d} spatial dims) or (C, {d} spatial dims)",
                            where=where, got=f"got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise NetTypeError("input must be a floating-point tensor", where=where,
                           got=f"got dtype {x.dtype}")
    return x, False


def _power(p, x: torch.Tensor, d: int, where: str, *, allow_zero: bool) -> torch.Tensor:
    """``p`` as a tensor of shape ``(1, C or 1, 1, ...)`` matching the windowed view."""
    if not isinstance(p, torch.Tensor):
        p = torch.tensor(float(p))
    if p.dim() > 1 or (p.dim() == 1 and p.numel() not in (1, x.shape[1])):
        raise NetValueError("p must be a number, a 0-d tensor, or one value per channel",
                            where=where, got=f"got p of shape {tuple(p.shape)} for "
                            f"{x.shape[1]} channels", fix=f"give p of shape () or ({x.shape[1]},)")
    with torch.no_grad():
        bad = ~torch.isfinite(p) | (p < 0 if allow_zero else p <= 0)
        if bool(bad.any()):
            rule = "p must be finite and ≥ 0" if allow_zero else "p must be finite and > 0"
            raise NetValueError(rule, where=where, got=f"got p = {p.detach().cpu().tolist()}",
                                fix="for p → ∞ use max pooling")
    p = p.to(dtype=x.dtype, device=x.device)
    return p.reshape((1, -1) + (1,) * (2 * d))


# ---- LP and power mean ---------------------------------------------------------------------------
class _PowerPool(torch.autograd.Function):
    """(Σ |x|^p)^(1/p) (``mean=False``) or (Σ |x|^p / n_in)^(1/p) (``mean=True``) per window."""

    @staticmethod
    def forward(ctx, x, p, win: _Windows, mean: bool):
        xw = win.view(x)
        kd = win.kdims
        a = xw.abs()
        m = a.amax(kd, keepdim=True)
        L = a.div_(torch.where(m > 0, m, 1)).log_()  # log(a/m) ≤ 0, -inf at zeros
        em = torch.mul(L, p).expm1_()  # (a/m)^p - 1 ∈ [-1, 0]
        if mean and win.padded:
            em.masked_fill_(win.pad_mask(x), 0.0)  # padding is not data in a mean
        n = win.counts(x) if mean else float(win.size)
        t = em.sum(kd, keepdim=True)  # Σ (a/m)^p = n + t
        z = (torch.log1p(t / n) if mean else torch.log(t + n)) / p  # log(y/m)
        zero_p = bool((p == 0).any()) if mean else False
        if zero_p:  # the geometric mean, exactly
            z = torch.where(p == 0, _masked_mean(L, win, x, n), z)
        y = m * torch.exp(z)
        ctx.win, ctx.mean, ctx.zero_p = win, mean, zero_p
        ctx.save_for_backward(x, p, y)
        ctx.fast = (L, em, m, z, t, n)
        return y.squeeze(kd)

    @staticmethod
    def backward(ctx, g):
        x, p, y = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a differentiable recomputation
            return _composite_grads(ctx, x, p, g)
        win, kd = ctx.win, ctx.win.kdims
        L, em, m, z, t, n = ctx.fast
        gk = g.reshape(y.shape)
        live = (m > 0) & (gk != 0)  # windows that have a gradient at all
        zs = torch.where(live, z, 0.0)
        c = (1.0 / n) if ctx.mean else 1.0
        gx = gp = None
        if ctx.needs_input_grad[0]:
            # exp((p-1) D_i + log|g c|) with D_i = L_i - z, then the signs of g and x.
            pm1 = p - 1
            base = torch.where(live, torch.log(gk.abs() * c) - pm1 * zs, _NEG_INF)
            e = torch.addcmul(base, L, pm1).exp_().copysign_(win.view(x))
            if bool((gk < 0).any()):
                e.mul_(torch.where(gk < 0, -1.0, 1.0).to(e.dtype))
            if not bool((p > 1).all()):  # p ≤ 1: (p-1)·log 0 is not -inf, so mask zeros
                e.masked_fill_(L == _NEG_INF, 0.0)
            gx = _fold_into(win, e, x)
        if ctx.needs_input_grad[1]:
            Ls = torch.where(L == _NEG_INF, 0.0, L)
            s = torch.addcmul(Ls, em, Ls).sum(kd, keepdim=True)  # Σ (a/m)^p log(a/m)
            inner = s - zs * (t + n)  # Σ e^{p L_i} (L_i - z)
            dp = y * inner / (p * (t + n))
            if ctx.zero_p:  # y Var(log a) / 2 (and 0 when a zero makes y = 0)
                var = _masked_var(L, win, x, n)
                dp = torch.where(p == 0, torch.where(y > 0, y * var / 2, 0.0), dp)
            dp = torch.where(live, gk * dp, 0.0)
            gp = dp.sum_to_size(p.shape)
        return gx, gp, None, None


def _fold_into(win: _Windows, gw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if win.exact_tiling():
        gx = torch.empty_like(x)
        win.view(gx).copy_(gw)
        return gx
    return win.fold(gw, x.shape)


def _masked_mean(L, win, x, n):
    Lm = L.masked_fill(win.pad_mask(x), 0.0) if win.padded else L
    return Lm.sum(win.kdims, keepdim=True) / n


def _masked_var(L, win, x, n):
    mu = _masked_mean(L, win, x, n)
    dev = torch.where(L == _NEG_INF, 0.0, L - mu)  # windows with a zero have y = 0 anyway
    if win.padded:
        dev = dev.masked_fill(win.pad_mask(x), 0.0)
    return (dev * dev).sum(win.kdims, keepdim=True) / n


def _composite(x, p, win: _Windows, mean: bool) -> torch.Tensor:
    """The same pooling as :class:`_PowerPool`, from robust elementwise powers (any order)."""
    xw = win.view(x)
    kd = win.kdims
    with torch.no_grad():
        m = xw.abs().amax(kd, keepdim=True)
        nonzero = m > 0
        m = torch.where(nonzero, m, 1.0)
    u = xw / m  # y is homogeneous of degree 1, so a constant m is exact at every order
    n = win.counts(x) if mean else 1.0
    zero_p = p == 0
    p_s = torch.where(zero_p, 1.0, p)
    s = _PowLog.apply(u, p_s, 0, 0).sum(kd, keepdim=True) / n
    s = torch.where(nonzero, s, 1.0)
    z = torch.log(s) / p_s
    if mean and bool(zero_p.any()):
        logs = _PowLog.apply(u, torch.zeros_like(p), 1, 0)
        if win.padded:
            logs = logs.masked_fill(win.pad_mask(x), 0.0)
        z = torch.where(zero_p, logs.sum(kd, keepdim=True) / n, z)
    y = torch.where(nonzero, m * torch.exp(z), 0.0)
    return y.squeeze(kd)


def _composite_grads(ctx, x, p, g):
    need = [i for i, t in enumerate((x, p)) if ctx.needs_input_grad[i]]
    with torch.enable_grad():
        y = _composite(x, p, ctx.win, ctx.mean)
        got = torch.autograd.grad(y, [(x, p)[i] for i in need], g, create_graph=True,
                                  allow_unused=True)
    out = [None, None, None, None]
    for i, gr in zip(need, got):
        out[i] = gr if gr is not None else torch.zeros_like((x, p)[i])
    return tuple(out)


def _smul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a * b`` with a strong zero: 0 where one factor is 0 and the other inf or NaN.

    Only there: elsewhere it is the plain product, so derivatives through a factor that happens
    to be 0 are kept.
    """
    zero = ((a == 0) & ~torch.isfinite(b)) | ((b == 0) & ~torch.isfinite(a))
    return torch.where(zero, 0.0, torch.where(zero, 1.0, a) * torch.where(zero, 1.0, b))


class _PowLog(torch.autograd.Function):
    """``sgn(u)^s |u|^r (log|u|)^k`` elementwise, with derivatives in the same family.

    d/du = sgn^{s+1}(r |u|^{r-1} log^k + k |u|^{r-1} log^{k-1}), d/dr = the same with k + 1.
    At u = 0 the value is the limit from u → 0 for even ``s`` (0 if r > 0; 1 if r = k = 0;
    ±inf otherwise) and 0 for odd ``s`` (a kink or cusp: the symmetric convention).
    """

    @staticmethod
    def forward(ctx, u, r, k: int, s: int):
        a = u.abs()
        la = torch.log(a)
        val = torch.exp(r * torch.where(a > 0, la, 0.0))
        if k:
            val = val * torch.where(a > 0, la, 0.0) ** k
        if s % 2:
            val = val * torch.sign(u)
        else:
            at0 = torch.where(r > 0, 0.0, torch.where(r < 0, math.inf * (-1.0) ** k,
                                                      1.0 if k == 0 else _NEG_INF ** k))
            val = torch.where(a > 0, val, at0)
        ctx.save_for_backward(u, r)
        ctx.k, ctx.s = k, s
        return val

    @staticmethod
    def backward(ctx, g):
        u, r = ctx.saved_tensors
        k, s = ctx.k, ctx.s
        gu = gr = None
        if ctx.needs_input_grad[0]:
            d = _smul(r, _PowLog.apply(u, r - 1, k, s + 1))
            if k:
                d = d + k * _PowLog.apply(u, r - 1, k - 1, s + 1)
            gu = _smul(g, d)
        if ctx.needs_input_grad[1]:
            gr = _smul(g, _PowLog.apply(u, r, k + 1, s)).sum_to_size(r.shape)
        return gu, gr, None, None


def _power_pool(x, p, kernel_size, stride, ceil_mode, padding, d: int, mean: bool, name: str):
    where = f"ops.{name}"
    x, unbatched = _batched(x, d, where)
    win = _Windows(x.shape[2:], kernel_size, stride, padding, ceil_mode, where)
    pp = _power(p, x, d, where, allow_zero=mean)
    if torch.is_grad_enabled() and (x.requires_grad or pp.requires_grad):
        y = _PowerPool.apply(x, pp, win, mean)
    else:
        with torch.no_grad():
            y = _PowerPool.forward(_NoCtx(), x, pp, win, mean)
    return y.squeeze(0) if unbatched else y


class _NoCtx:
    """Stands in for the autograd context when nothing needs a gradient."""

    def save_for_backward(self, *tensors):
        pass


# ---- max, mean, total ----------------------------------------------------------------------------
class _MaxPool(torch.autograd.Function):
    """Max over each window; the gradient is split evenly among tied maxima."""

    @staticmethod
    def forward(ctx, x, win: _Windows):
        y = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[win.d - 1](
            x, win.kernel, win.stride, win.padding, ceil_mode=win.ceil_mode)
        ctx.win = win
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        win = ctx.win
        xw = win.view_unpadded(F.pad(x, win.pads, value=_NEG_INF) if win.padded else x)
        tie = xw == y.reshape(y.shape + (1,) * win.d)
        share = g.reshape(y.shape + (1,) * win.d) / tie.sum(win.kdims, keepdim=True)
        return win.fold(torch.where(tie, share, 0.0), x.shape), None


def _pool_checked(x, kernel_size, stride, padding, ceil_mode, d, name):
    where = f"ops.{name}"
    x, unbatched = _batched(x, d, where)
    win = _Windows(x.shape[2:], kernel_size, stride, padding, ceil_mode, where)
    return x, unbatched, win


def _max(x, kernel_size, stride, padding, ceil_mode, d, name):
    x, unbatched, win = _pool_checked(x, kernel_size, stride, padding, ceil_mode, d, name)
    y = _MaxPool.apply(x, win)
    return y.squeeze(0) if unbatched else y


def _linear_pool(x, kernel_size, stride, padding, ceil_mode, d, name, mean):
    x, unbatched, win = _pool_checked(x, kernel_size, stride, padding, ceil_mode, d, name)
    xw = win.view(x)
    y = xw.sum(win.kdims, keepdim=True)
    if mean:
        y = y / win.counts(x)
    y = y.squeeze(win.kdims)
    return y.squeeze(0) if unbatched else y


# ---- public functions ----------------------------------------------------------------------------
def _make(d: int):
    def lp_pool(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0):
        return _power_pool(input, norm_type, kernel_size, stride, ceil_mode, padding, d,
                           False, f"lp_pool{d}d")

    def power_mean_pool(input, p, kernel_size, stride=None, ceil_mode=False, *, padding=0):
        return _power_pool(input, p, kernel_size, stride, ceil_mode, padding, d, True,
                           f"power_mean_pool{d}d")

    def max_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False):
        return _max(input, kernel_size, stride, padding, ceil_mode, d, f"max_pool{d}d")

    def mean_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False):
        return _linear_pool(input, kernel_size, stride, padding, ceil_mode, d,
                            f"mean_pool{d}d", True)

    def total_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False):
        return _linear_pool(input, kernel_size, stride, padding, ceil_mode, d,
                            f"total_pool{d}d", False)

    return lp_pool, power_mean_pool, max_pool, mean_pool, total_pool


(lp_pool1d, power_mean_pool1d, max_pool1d, mean_pool1d, total_pool1d) = _make(1)
(lp_pool2d, power_mean_pool2d, max_pool2d, mean_pool2d, total_pool2d) = _make(2)
(lp_pool3d, power_mean_pool3d, max_pool3d, mean_pool3d, total_pool3d) = _make(3)

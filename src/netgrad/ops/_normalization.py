"""Normalization: batch_norm, layer_norm, group_norm, instance_norm, rms_norm,
local_response_norm, with the signatures, defaults and values of ``torch.nn.functional``.

Batch, layer, group and RMS normalization are rules of the registry (``_registry.py``), one
formula for every path:

* **forward**: torch's fused kernel (``native_batch_norm``, ``native_layer_norm``,
  ``native_group_norm``, ``_fused_rms_norm``), exact where the statistics are finite and
  ``eps > 0``. On the eager CPU path this is verified on the small per-slice ``rstd`` only
  (finite and positive); otherwise, and always for ``eps = 0``, the composition below computes
  the forward: each slice shifted by its first element (a constant slice has variance exactly
  0 and ``x - mean`` exactly 0), divided by its largest deviation before squaring (no float32
  overflow or underflow), and ``rstd = 0`` where ``var + eps == 0``.
* **backward** (``vjp``), written once against ``ns``: with ``x̂ = (x - mean)·rstd``,
  ``gx = rstd ⊙ (ĝ - mean(ĝ) - x̂ ⊙ mean(ĝ ⊙ x̂))`` with ``ĝ = g ⊙ weight`` (for RMS without the
  ``mean(ĝ)`` term), ``gweight = Σ g ⊙ x̂``, ``gbias = Σ g``; strong-zero products throughout, so
  ``rstd = 0`` gives a zero gradient and an infinite cotangent on a zero weight gives 0. When the
  backward is itself differentiated (``R``), the statistics are recomputed from ``x`` by the
  composition, so second derivatives are exact. The eager first-order ``fast`` path is torch's
  fused backward kernel, accepted when the small weight gradient is finite.
* **jvp**: ``tŷ = rstd ⊙ (tx - mean(tx) - x̂ ⊙ mean(tx ⊙ x̂))``, ``ty = weight ⊙ tŷ + tw ⊙ x̂ + tb``.

Conventions (beyond torch's): with ``eps = 0`` a constant slice normalizes to 0 with gradient 0
(undefined; torch gives NaN). ``batch_norm`` in training accepts one value per channel (torch
refuses): the slice is constant, and the running variance is left unchanged (one value carries
no variance estimate) while the running mean is updated; a channel whose batch statistics are
not finite keeps its running statistics. ``rms_norm`` of a zero slice with ``eps = 0`` is 0 with
gradient 0. ``local_response_norm`` with ``k = 0`` gives 0, with gradient 0, where its window of
squares is all zero (for ``k > 0`` the denominator is at least ``k^beta`` and torch's
composition is exact and finite).

Shapes follow torch: ``input`` is ``(N, C, *spatial)`` for batch, instance, group and local
response normalization; layer and RMS normalization normalize the trailing
``normalized_shape``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _mode
from ._core import all_finite
from ._registry import R, Rule, namespace, register

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
           "local_response_norm"]

_aten = torch.ops.aten
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active


# ---- layouts: how each kind sees its input ----------------------------------------------------

def _view(kind: str, x: torch.Tensor, extra):
    """``(xv, dims)``: the view of ``x`` whose ``dims`` are standardized together."""
    if kind == "batch":
        return x, (0,) + tuple(range(2, x.dim()))
    if kind == "group":
        return x.reshape(x.shape[0], extra, -1), (2,)
    return x, tuple(range(x.dim() - len(extra), x.dim()))  # layer, rms: trailing dims


def _channel(t, rank: int):
    """A per-channel ``(C,)`` tensor shaped to broadcast against ``(N, C, *spatial)``."""
    return None if t is None else t.reshape((1, -1) + (1,) * (rank - 2))


def _wview(kind: str, t, x):
    """A weight or bias shaped to broadcast against ``x``."""
    if t is None or kind in ("layer", "rms"):
        return t
    return _channel(t, x.dim())


# ---- the composition --------------------------------------------------------------------------

def _first(x: torch.Tensor, dims) -> torch.Tensor:
    for d in dims:
        x = x.narrow(d, 0, 1)
    return x


def _scale_of(c: torch.Tensor, dims, eps: float) -> torch.Tensor:
    """A constant per slice to divide by before squaring: the largest magnitude m when m > 1
    (so squares do not overflow in float32) or when eps = 0 (the result is then invariant under
    scaling, and tiny slices do not underflow to 0), else 1 (eps dominates what underflows).
    The normalized value does not depend on it, so it carries no gradient."""
    with torch.no_grad():
        m = torch.amax(c.detach().abs(), dims, keepdim=True)
        use = (m < math.inf) & ((m > 0) if eps == 0 else (m > 1))
        return torch.where(use, m, torch.ones_like(m))


def _inv_sqrt(v: torch.Tensor, ns) -> torch.Tensor:
    """1/√v, and 0 where v == 0 (the convention of a constant or zero slice with eps = 0)."""
    zero = v == 0
    return ns.where(zero, 0.0, ns.div(1.0, ns.sqrt(ns.where(zero, 1.0, v))))


def _statistics(xv: torch.Tensor, dims, eps: float, ns, rms: bool):
    """``(x̂, mean, rstd, biased variance)`` of the view over ``dims`` (keepdim shapes)."""
    if rms:
        first = torch.zeros_like(_first(xv, dims))
        c = xv
    else:
        first = _first(xv, dims).detach()
        d = xv - first
        mu = d.mean(dims, keepdim=True)
        c = d - mu
    m = _scale_of(c, dims, eps)
    u = ns.div(c, m)
    v = ns.mul(u, u).mean(dims, keepdim=True)
    r = _inv_sqrt(v + (0.0 if eps == 0 else eps / (m * m)), ns)
    xh = ns.mul(u, r)
    mean = first if rms else mu + first
    return xh, mean, ns.div(r, m), ns.mul(v, m * m)


def _affine(kind, y, x, w, b, ns):
    if w is not None:
        y = ns.mul(y, _wview(kind, w, x))
    if b is not None:
        y = y + _wview(kind, b, x)
    return y


def _composed(kind, x, w, b, eps, extra, ns):
    """``(y, mean, rstd, var)`` by the composition (mean/rstd/var in the view's keepdim shapes)."""
    xv, dims = _view(kind, x, extra)
    xh, mean, rstd, var = _statistics(xv, dims, eps, ns, kind == "rms")
    return _affine(kind, xh.reshape(x.shape), x, w, b, ns), mean, rstd, var


# ---- the rules ----------------------------------------------------------------------------------

def _native_forward(kind, x, w, b, eps, extra):
    """torch's fused kernel: ``(y, mean, rstd)`` with the statistics in keepdim view shapes."""
    if kind == "batch":
        y, mean, rstd = _aten.native_batch_norm(x, w, b, None, None, True, 0.0, eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return y, mean.reshape(shape), rstd.reshape(shape)
    if kind == "layer":
        return _aten.native_layer_norm(x, list(extra), w, b, eps)
    if kind == "group":
        n, c = x.shape[:2]
        y, mean, rstd = _aten.native_group_norm(x, w, b, n, c, x.numel() // max(n * c, 1),
                                                extra, eps)
        return y, mean.unsqueeze(-1), rstd.unsqueeze(-1)
    y, rstd = _aten._fused_rms_norm(x, list(extra), w, eps)
    return y, torch.zeros_like(rstd), rstd


def _stats_ok(rstd: torch.Tensor) -> bool:
    """Every rstd finite and positive (a zero means the variance overflowed, NaN a non-finite
    input); eager CPU only: one read of a small tensor."""
    return rstd.numel() == 0 or bool(((rstd > 0) & (rstd < math.inf)).all())


def _forward(kind):
    def forward(x, w, b, eps, extra):
        if eps > 0:
            y, mean, rstd = _native_forward(kind, x, w, b, eps, extra)
            if _mode.sync_free_active(x) or _stats_ok(rstd):
                return y, mean, rstd
        y, mean, rstd, _ = _composed(kind, x, w, b, eps, extra, namespace(x))
        return y, mean, rstd
    return forward


def _xhat(kind, x, mean, rstd, eps, extra, ns):
    """``(x̂, rstd)`` in the view: from the saved statistics, or, when the backward is itself
    differentiated (``R``), recomputed from ``x`` so that they carry its dependence."""
    xv, dims = _view(kind, x, extra)
    if ns is R:
        xh, _, rstd, _ = _statistics(xv, dims, eps, ns, kind == "rms")
        return xh, rstd, dims
    return ns.mul(xv - mean, rstd), rstd, dims


def _through(kind, t, rstd, xh, dims, ns):
    """The linear map ``t ↦ rstd ⊙ (t - mean(t) - x̂ ⊙ mean(t ⊙ x̂))`` over ``dims`` (the
    derivative of x̂; RMS has no mean(t) term). It is self-adjoint, so it serves vjp and jvp."""
    proj = ns.mul(xh, ns.mul(t, xh).mean(dims, keepdim=True))
    inner = t - proj if kind == "rms" else t - t.mean(dims, keepdim=True) - proj
    return ns.mul(rstd, inner)


def _vjp(kind):
    def vjp(ns, g, s):
        x, w, b = s.inputs
        mean, rstd = s.aux
        eps, extra = s.params
        xh, r, dims = _xhat(kind, x, mean, rstd, eps, extra, ns)
        xh_full = xh.reshape(x.shape)
        gx = gw = gb = None
        if s.needs[0]:
            ghat = g if w is None else ns.mul(g, _wview(kind, w, x))
            gv, _ = _view(kind, ghat, extra)
            gx = _through(kind, gv, r, xh, dims, ns).reshape(x.shape)
        if s.needs[1]:
            gw = ns.mul(g, xh_full).sum_to_size(_wview(kind, w, x).shape).reshape(w.shape)
        if s.needs[2]:
            gb = g.sum_to_size(_wview(kind, b, x).shape).reshape(b.shape)
        return gx, gw, gb
    return vjp


def _jvp(kind):
    def jvp(ns, ts, s):
        x, w, b = s.inputs
        mean, rstd = s.aux
        eps, extra = s.params
        tx, tw, tb = ts
        xh, r, dims = _xhat(kind, x, mean, rstd, eps, extra, ns)
        xh_full = xh.reshape(x.shape)
        out = torch.zeros_like(x) if tx is None else \
            _through(kind, _view(kind, tx, extra)[0], r, xh, dims, ns).reshape(x.shape)
        if w is not None:
            out = ns.mul(out, _wview(kind, w, x))
        if tw is not None:
            out = out + ns.mul(_wview(kind, tw, x), xh_full)
        if tb is not None:
            out = out + _wview(kind, tb, x)
        return out
    return jvp


def _fast(kind):
    """torch's fused backward kernel (eager CPU, first order); None when the small weight
    gradient (Σ g·x̂, NaN if g is not finite) says it is not exact."""
    def fast(g, s):
        x, w, b = s.inputs
        mean, rstd = s.aux
        eps, extra = s.params
        need = list(s.needs)
        mask = [need[0], need[1] or w is not None, need[2]]
        if kind == "batch":
            gx, gw, gb = _aten.native_batch_norm_backward(
                g, x, w, None, None, mean.reshape(-1), rstd.reshape(-1), True, eps, mask)
        elif kind == "layer":
            gx, gw, gb = _aten.native_layer_norm_backward(g, x, list(extra), mean, rstd, w, b,
                                                          mask)
        elif kind == "group":
            n, c = x.shape[:2]
            gx, gw, gb = _aten.native_group_norm_backward(
                g.contiguous(), x, mean.squeeze(-1), rstd.squeeze(-1), w, n, c,
                x.numel() // max(n * c, 1), extra, mask)
        else:
            return None  # no CPU kernel for _fused_rms_norm_backward: the formula (T)
        checks = [t for t in (gw, gb) if t is not None] or [gx]
        if not all(all_finite(t) for t in checks):
            return None
        return (gx if need[0] else None, gw if need[1] else None, gb if need[2] else None)
    return fast


_TEXT = {
    "batch": ("gx = rstd ⊙ (ĝ - mean ĝ - x̂ ⊙ mean(ĝ ⊙ x̂)), ĝ = g ⊙ w; gw = Σ g ⊙ x̂; gb = Σ g",
              "constant channel, eps = 0: x̂ = 0, gradient 0; one value per channel allowed"),
    "layer": ("as batch_norm, over the trailing normalized_shape",
              "constant slice, eps = 0: x̂ = 0, gradient 0"),
    "group": ("as batch_norm, over each group of each example",
              "constant group, eps = 0: x̂ = 0, gradient 0"),
    "rms": ("gx = rstd ⊙ (ĝ - x̃ ⊙ mean(ĝ ⊙ x̃)), x̃ = x ⊙ rstd", "zero slice, eps = 0: 0, gradient 0"),
}


def _register(kind: str, name: str):
    derivative, convention = _TEXT[kind]
    return register(Rule(name, _forward(kind), 3, _vjp(kind), _jvp(kind), fast=_fast(kind),
                         saves=(0, 1, 2), n_aux=2, derivative=derivative,
                         convention=convention + "; var overflow in float32: scaled, exact"))


_RULES = {kind: _register(kind, f"{kind}_norm") for kind in ("batch", "layer", "group", "rms")}


def _apply_with_statistics(kind, x, w, b, eps, extra):
    """The rule's ``(y, mean, rstd)``: the registry's dispatch, keeping the statistics (the
    running statistics of batch_norm are updated from them)."""
    op = _RULES[kind]
    if _is_compiling():
        return op.traced.apply(x, w, b, eps, extra)
    if _functorch_active() or torch.is_grad_enabled() or torch._C._is_fwd_grad_enabled():
        return op.function.apply(x, w, b, eps, extra)
    with torch._C.DisableTorchFunction():
        return _forward(kind)(x, w, b, eps, extra)


# ---- the public operations ---------------------------------------------------------------------

def _check_input(input, least: int, name: str) -> None:
    if input.dim() < least:
        raise ValueError(f"{name}: expected an input of at least {least} dimensions "
                         f"(got {input.dim()})")


@torch.no_grad()
def _update_running(running_mean, running_var, mean, var, count: int, momentum: float) -> None:
    """``running = (1 - momentum)·running + momentum·batch`` per channel, in place; a channel
    whose batch statistic is not finite keeps its running value (a bad batch does not corrupt
    it), and with one value per channel the variance is left unchanged."""
    if running_mean is not None:
        batch = mean.reshape(running_mean.shape).to(running_mean.dtype)
        running_mean.copy_(torch.where(torch.isfinite(batch), running_mean.lerp(batch, momentum),
                                       running_mean))
    if running_var is not None and count > 1:
        batch = var.reshape(running_var.shape).to(running_var.dtype) * (count / (count - 1))
        running_var.copy_(torch.where(torch.isfinite(batch), running_var.lerp(batch, momentum),
                                      running_var))


def batch_norm(input: torch.Tensor, running_mean: torch.Tensor | None,
               running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Batch normalization, as ``torch.nn.functional.batch_norm``.

    In training (or without running statistics) each channel is standardized by its mean and
    biased variance over the batch and spatial positions, and the running statistics are
    updated in place (``running = (1 - momentum)·running + momentum·batch``, with the unbiased
    variance); otherwise the running statistics are used. One value per channel is accepted
    (see the module docstring for this and ``eps = 0``).

    Shape: ``input`` ``(N, C, *spatial)``; ``running_*``, ``weight``, ``bias`` ``(C,)``;
    output as ``input``.
    """
    _check_input(input, 2, "batch_norm")
    if not training and running_mean is not None and running_var is not None:
        if not (running_mean.requires_grad or running_var.requires_grad):
            return torch.batch_norm(input, weight, bias, running_mean, running_var, False, 0.0,
                                    eps, torch.backends.cudnn.enabled)
        # gradients of the running statistics asked for (torch's kernel refuses them)
        r = input.dim()
        scale = R.div(1.0, R.sqrt(running_var + eps))
        y = R.mul(input - _channel(running_mean, r), _channel(scale, r))
        return _affine("batch", y, input, weight, bias, R)
    if not input.is_floating_point() or input.numel() == 0:
        return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                            eps)
    y, mean, rstd = _apply_with_statistics("batch", input, weight, bias, float(eps), None)
    if running_mean is not None or running_var is not None:
        with torch.no_grad():
            var = torch.where(rstd == 0, 0.0, (rstd.pow(-2) - eps).clamp_min(0.0))
        _update_running(running_mean, running_var, mean.detach(), var,
                        input.numel() // max(input.shape[1], 1), momentum)
    return y


def instance_norm(input: torch.Tensor, running_mean: torch.Tensor | None = None,
                  running_var: torch.Tensor | None = None, weight: torch.Tensor | None = None,
                  bias: torch.Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Instance normalization, as ``torch.nn.functional.instance_norm``: each channel of each
    example standardized over its spatial positions (batch normalization of a batch of one with
    ``N·C`` channels, which is how torch computes it).

    Shape: ``input`` ``(N, C, *spatial)``; ``running_*``, ``weight``, ``bias`` ``(C,)``.
    """
    _check_input(input, 3, "instance_norm")
    n, c = input.shape[:2]
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    x = input.reshape(1, n * c, *input.shape[2:])
    w = None if weight is None else weight.repeat(n)
    b = None if bias is None else bias.repeat(n)
    rm = None if running_mean is None else running_mean.repeat(n)
    rv = None if running_var is None else running_var.repeat(n)
    y = batch_norm(x, rm, rv, w, b, True, momentum, eps)
    with torch.no_grad():
        if running_mean is not None and rm is not None:
            running_mean.copy_(rm.view(n, c).mean(0))
        if running_var is not None and rv is not None:
            running_var.copy_(rv.view(n, c).mean(0))
    return y.reshape(input.shape)


def _trailing(input, normalized_shape, name: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.dim() - len(shape):]) != shape or len(shape) > input.dim():
        raise ValueError(f"{name}: normalized_shape {list(shape)} must be the trailing "
                         f"dimensions of the input (got {list(input.shape)})")
    return shape


def layer_norm(input: torch.Tensor, normalized_shape, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Layer normalization, as ``torch.nn.functional.layer_norm``: standardized over the trailing
    ``normalized_shape`` dimensions, then ``weight``/``bias`` (of that shape) elementwise.
    A constant slice gives ``bias`` with a finite gradient (0 with ``eps = 0``)."""
    shape = _trailing(input, normalized_shape, "layer_norm")
    if not input.is_floating_point() or input.numel() == 0:
        return F.layer_norm(input, shape, weight, bias, eps)
    return _RULES["layer"](input, weight, bias, float(eps), shape)


def group_norm(input: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Group normalization, as ``torch.nn.functional.group_norm``: the channels split into
    ``num_groups`` groups, each group of each example standardized, then per-channel
    ``weight``/``bias`` ``(C,)``."""
    _check_input(input, 2, "group_norm")
    if input.shape[1] % num_groups:
        raise ValueError(f"group_norm: {input.shape[1]} channels do not split into "
                         f"{num_groups} groups")
    if not input.is_floating_point() or input.numel() == 0:
        return F.group_norm(input, num_groups, weight, bias, eps)
    return _RULES["group"](input, weight, bias, float(eps), int(num_groups))


def rms_norm(input: torch.Tensor, normalized_shape, weight: torch.Tensor | None = None,
             eps: float | None = None) -> torch.Tensor:
    """RMS normalization, as ``torch.nn.functional.rms_norm``: ``x / sqrt(mean(x²) + eps)`` over
    the trailing ``normalized_shape``, times ``weight``; ``eps`` defaults to the dtype's machine
    epsilon. A zero slice gives 0 (with gradient 0 when ``eps = 0``)."""
    shape = _trailing(input, normalized_shape, "rms_norm")
    if not input.is_floating_point() or input.numel() == 0:
        return F.rms_norm(input, shape, weight, eps)
    e = torch.finfo(input.dtype).eps if eps is None else eps
    return _RULES["rms"](input, weight, None, float(e), shape)


def _window_mean(sq: torch.Tensor, size: int) -> torch.Tensor:
    """The mean of ``sq`` over a window of ``size`` channels (zero padded; torch's alignment)."""
    n, c = sq.shape[:2]
    v = sq.reshape(n, 1, c, -1)
    v = F.pad(v, (0, 0, size // 2, (size - 1) // 2))
    return F.avg_pool2d(v, (size, 1), stride=1).reshape(sq.shape)


def local_response_norm(input: torch.Tensor, size: int, alpha: float = 1e-4,
                        beta: float = 0.75, k: float = 1.0) -> torch.Tensor:
    """Local response normalization across channels, as
    ``torch.nn.functional.local_response_norm``: ``x / (k + alpha·mean_window(x²))^beta``,
    the window of ``size`` channels centred on each channel (zero padded).

    Shape: ``input`` ``(N, C, *spatial)``; output the same.
    """
    _check_input(input, 3, "local_response_norm")
    if input.numel() == 0:
        return input
    if k > 0:  # the denominator is at least k^beta > 0: torch's composition is exact and finite
        return F.local_response_norm(input, size, alpha, beta, k)
    d = R.pow(R.mul(_window_mean(R.mul(input, input), size), alpha) + k, beta)
    zero = d == 0
    return R.where(zero, 0.0, R.div(input, R.where(zero, 1.0, d)))

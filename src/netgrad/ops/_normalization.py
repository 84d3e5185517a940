"""Normalization: batch_norm, layer_norm, group_norm, instance_norm, rms_norm,
local_response_norm, with the signatures, defaults and values of ``torch.nn.functional``.

Two paths, one set of conventions:

* **Fast**: torch's fused kernels (``native_batch_norm``, ``native_layer_norm``,
  ``native_group_norm``, ``_fused_rms_norm``) and their fused backward kernels. They are exact
  where the statistics are finite and the epsilon is positive, and this is verified on the small
  tensors only (the per-slice ``rstd``, the parameter gradients), never with a pass over the
  large ones.
* **Careful**: the composition below, in robust operations (``R``): the variance is taken
  after shifting each slice by its first element (a constant slice has variance exactly 0 and
  ``x - mean`` exactly 0), and ``rstd = where(v + eps == 0, 0, 1/sqrt(v + eps))``. It is used
  when the fast path's check fails (an infinite or NaN cotangent, which the strong-zero
  products of the composition handle; an overflowing float32 variance), for ``eps = 0``, and
  for the backward when it is itself differentiated (``create_graph``), so second derivatives
  keep the contract.

Conventions (beyond torch's): with ``eps = 0`` a constant slice normalizes to 0 with gradient 0
(the normalized value of a constant is undefined; torch gives NaN). ``batch_norm`` in training
accepts one value per channel (torch refuses): the slice is constant, and the running variance
is left unchanged (one value carries no variance estimate) while the running mean is updated.
``rms_norm`` of a zero slice with ``eps = 0`` is 0 with gradient 0. ``local_response_norm``
with ``k = 0`` gives 0, with gradient 0, where its window of squares is all zero.

Under ``torch.compile`` and ``torch.func`` transforms (where no value can be read on the host)
the fast path runs unchecked and its backward is torch's own differentiable one; ``eps = 0``
takes the composition in plain torch with the double-``where`` guard, which has the same
conventions.

Shapes follow torch: ``input`` is ``(N, C, *spatial)`` for batch, instance, group and local
response normalization; layer and RMS normalization normalize the trailing
``normalized_shape``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.autograd import Function

from ._core import R, T, all_finite, plain

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
           "local_response_norm"]

_aten = torch.ops.aten


def _traced(x: torch.Tensor) -> bool:
    """No host reads possible: compiling, inside a torch.func transform, or a meta tensor."""
    return (torch.compiler.is_compiling() or x.is_meta
            or torch._C._functorch.is_functorch_wrapped_tensor(x))


def _ns(x: torch.Tensor):
    return T if _traced(x) else R


# ---- the composition (the conventions; the careful and the create_graph path) ----------------

def _first(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    for d in dims:
        x = x.narrow(d, 0, 1)
    return x


def _scale_of(c: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    """A constant per slice to divide by before squaring: the largest magnitude m when m > 1
    (so squares do not overflow in float32) or when eps = 0 (the result is then invariant under
    scaling, and tiny slices do not underflow to 0), else 1 (eps dominates what underflows).
    The normalized value does not depend on it, so it carries no gradient."""
    with torch.no_grad():
        m = torch.amax(c.abs(), dims, keepdim=True)
        use = (m < math.inf) & ((m > 0) if eps == 0 else (m > 1))
        return torch.where(use, m, torch.ones_like(m))


def _eps_over(eps: float, m: torch.Tensor):
    return 0.0 if eps == 0 else eps / (m * m)


def _inv_sqrt(v: torch.Tensor, ns) -> torch.Tensor:
    """1/√v, and 0 where v == 0 (the convention of a constant or zero slice with eps = 0)."""
    zero = v == 0
    return ns.where(zero, 0.0, ns.div(1.0, ns.sqrt(ns.where(zero, 1.0, v))))


def _standardize(x: torch.Tensor, dims: tuple[int, ...], eps: float, ns):
    """``(x̂, mean, biased variance)`` over ``dims`` (keepdim shapes), by the conventions above:
    shifted by each slice's first element (a constant slice is exactly 0), and scaled by the
    largest deviation m, x̂ = u/√(mean(u²) + eps/m²) with u = (x - μ)/m."""
    first = _first(x, dims).detach()
    d = ns.sub(x, first)
    mu = ns.mean(d, dims, keepdim=True)
    c = ns.sub(d, mu)
    m = _scale_of(c, dims, eps)
    u = ns.div(c, m)
    v = ns.mean(ns.mul(u, u), dims, keepdim=True)
    return ns.mul(u, _inv_sqrt(ns.add(v, _eps_over(eps, m)), ns)), ns.add(mu, first), \
        ns.mul(v, m * m)


def _affine(y: torch.Tensor, weight, bias, ns) -> torch.Tensor:
    if weight is not None:
        y = ns.mul(y, weight)
    if bias is not None:
        y = ns.add(y, bias)
    return y


def _channel(t, rank: int):
    """A per-channel ``(C,)`` tensor shaped to broadcast against ``(N, C, *spatial)``."""
    return None if t is None else t.reshape((1, -1) + (1,) * (rank - 2))


def _bn_composed(x, weight, bias, eps, ns):
    dims = (0,) + tuple(range(2, x.dim()))
    xh, mean, var = _standardize(x, dims, eps, ns)
    return _affine(xh, _channel(weight, x.dim()), _channel(bias, x.dim()), ns), mean, var


def _ln_composed(x, k, weight, bias, eps, ns):
    dims = tuple(range(x.dim() - k, x.dim()))
    xh, _, _ = _standardize(x, dims, eps, ns)
    return _affine(xh, weight, bias, ns)


def _gn_composed(x, groups, weight, bias, eps, ns):
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1)
    xh, _, _ = _standardize(xg, (2,), eps, ns)
    return _affine(xh.reshape(x.shape), _channel(weight, x.dim()), _channel(bias, x.dim()), ns)


def _rms_composed(x, k, weight, eps, ns):
    dims = tuple(range(x.dim() - k, x.dim()))
    m = _scale_of(x, dims, eps)
    u = ns.div(x, m)
    ms = ns.add(ns.mean(ns.mul(u, u), dims, keepdim=True), _eps_over(eps, m))
    return _affine(ns.mul(u, _inv_sqrt(ms, ns)), weight, None, ns)


def _composed_grads(fn, inputs, g, create_graph: bool):
    """Gradients of the composition ``fn(*inputs)`` against ``g`` (None for inputs that are None
    or need none)."""
    with torch.enable_grad():
        leaves = [None if t is None else (t if create_graph else t.detach().requires_grad_())
                  for t in inputs]
        want = [t for t in leaves if t is not None and t.requires_grad]
        out = fn(*leaves)
        found = iter(torch.autograd.grad(out, want, g, create_graph=create_graph,
                                         allow_unused=True)) if want else iter(())
    grads = []
    for t in leaves:
        if t is not None and t.requires_grad:
            got = next(found)
            grads.append(torch.zeros_like(t) if got is None else got)
        else:
            grads.append(None)
    return grads


# ---- the fast path: torch's fused kernels, verified ------------------------------------------

def _stats_ok(rstd: torch.Tensor) -> bool:
    """The fused result is exact: every ``rstd`` finite and positive (a zero means the variance
    overflowed, NaN a non-finite input)."""
    return rstd.numel() == 0 or bool(((rstd > 0) & (rstd < math.inf)).all())


class _Fused(Function):
    """One fused normalization kernel and its fused backward (see the module docstring).

    ``forward(kind, x, weight, bias, eps, extra)`` returns ``(y, mean, rstd)`` or, when the check
    of the statistics fails in eager mode, None (the caller takes the composition).
    """

    generate_vmap_rule = True

    @staticmethod
    @plain
    def forward(kind, x, weight, bias, eps, extra):
        y, mean, rstd = _KERNELS[kind][0](x, weight, bias, eps, extra)
        if not _traced(x) and not _stats_ok(rstd):
            return None
        return y, mean, rstd

    @staticmethod
    def setup_context(ctx, inputs, output):
        kind, x, weight, bias, eps, extra = inputs
        if output is None:
            return
        _, mean, rstd = output
        ctx.mark_non_differentiable(mean, rstd)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.args = (kind, eps, extra)

    @staticmethod
    @plain
    def backward(ctx, g, _gm, _gr):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        kind, eps, extra = ctx.args
        need = list(ctx.needs_input_grad[1:4])
        composed = _KERNELS[kind][2]
        traced = _traced(g) or _traced(x)
        if torch.is_grad_enabled() and not traced:  # create_graph: the robust composition
            gx, gw, gb = _composed_grads(lambda a, w, b: composed(a, w, b, eps, extra, R),
                                         (x, weight, bias), g, True)
            return None, gx, gw, gb, None, None
        # the small weight gradient Σ g·x̂ doubles as the check of g (NaN if g is not finite)
        mask = [need[0], need[1] or weight is not None, need[2]]
        gx, gw, gb = _KERNELS[kind][1](g, x, weight, bias, mean, rstd, eps, extra, mask)
        if not traced:
            checks = [t for t in (gw, gb) if t is not None] or [gx]
            if not all(all_finite(t) for t in checks):
                gx, gw, gb = _composed_grads(lambda a, w, b: composed(a, w, b, eps, extra, R),
                                             (x.detach(), weight, bias), g, False)
        return (None, gx if need[0] else None, gw if need[1] else None,
                gb if need[2] else None, None, None)


def _bn_fwd(x, w, b, eps, extra):
    return _aten.native_batch_norm(x, w, b, None, None, True, 0.0, eps)


def _bn_bwd(g, x, w, b, mean, rstd, eps, extra, mask):
    return _aten.native_batch_norm_backward(g, x, w, None, None, mean, rstd, True, eps, mask)


def _ln_fwd(x, w, b, eps, shape):
    return _aten.native_layer_norm(x, list(shape), w, b, eps)


def _ln_bwd(g, x, w, b, mean, rstd, eps, shape, mask):
    return _aten.native_layer_norm_backward(g, x, list(shape), mean, rstd, w, b, mask)


def _gn_geometry(x, groups):
    n, c = x.shape[:2]
    return n, c, x.numel() // max(n * c, 1), groups


def _gn_fwd(x, w, b, eps, groups):
    return _aten.native_group_norm(x, w, b, *_gn_geometry(x, groups), eps)


def _gn_bwd(g, x, w, b, mean, rstd, eps, groups, mask):
    return _aten.native_group_norm_backward(g.contiguous(), x, mean, rstd, w,
                                            *_gn_geometry(x, groups), mask)


def _rms_fwd(x, w, b, eps, shape):
    y, rstd = _aten._fused_rms_norm(x, list(shape), w, eps)
    return y, rstd.new_zeros(()), rstd


def _rms_bwd(g, x, w, b, mean, rstd, eps, shape, mask):
    # y = x·r·w with r = (mean(x²) + eps)^(-1/2): dx = r·(gw - x·r²·mean(gw·x)), gw = g·w
    # (torch has no CPU kernel for _fused_rms_norm_backward; these are three fused passes)
    dims = tuple(range(x.dim() - len(shape), x.dim()))
    gwx = g if w is None else g * w
    gx = gw = None
    if mask[0]:
        dot = (gwx * x).mean(dims, keepdim=True)
        gx = (gwx - x * (rstd * rstd * dot)) * rstd
    if mask[1] and w is not None:
        gw = (g * x * rstd).sum_to_size(w.shape)
    return gx, gw, None


#: kind -> (fused forward, fused backward, composition(x, w, b, eps, extra, ns) -> y)
_KERNELS = {
    "batch": (_bn_fwd, _bn_bwd, lambda x, w, b, eps, _e, ns: _bn_composed(x, w, b, eps, ns)[0]),
    "layer": (_ln_fwd, _ln_bwd, lambda x, w, b, eps, shape, ns:
              _ln_composed(x, len(shape), w, b, eps, ns)),
    "group": (_gn_fwd, _gn_bwd, lambda x, w, b, eps, groups, ns:
              _gn_composed(x, groups, w, b, eps, ns)),
    "rms": (_rms_fwd, _rms_bwd, lambda x, w, b, eps, shape, ns:
            _rms_composed(x, len(shape), w, eps, ns)),
}


def _fused_or_none(kind, x, weight, bias, eps, extra):
    """The fast path's ``(y, mean, rstd)``, or None where it does not apply."""
    if eps <= 0 or not x.is_floating_point() or x.numel() == 0:
        return None
    return _Fused.apply(kind, x, weight, bias, eps, extra)


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
        ns, r = _ns(input), input.dim()
        y = ns.mul(ns.sub(input, _channel(running_mean, r)),
                   _channel(ns.div(1.0, ns.sqrt(ns.add(running_var, eps))), r))
        return _affine(y, _channel(weight, r), _channel(bias, r), ns)
    count = input.numel() // max(input.shape[1], 1)
    fused = _fused_or_none("batch", input, weight, bias, eps, None)
    if fused is not None:
        y, mean, rstd = fused
        if running_mean is not None or running_var is not None:
            _update_running(running_mean, running_var, mean, rstd.pow(-2) - eps, count, momentum)
        return y
    y, mean, var = _bn_composed(input, weight, bias, eps, _ns(input))
    if training:
        _update_running(running_mean, running_var, mean.detach(), var.detach(), count, momentum)
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
        if running_mean is not None:
            running_mean.copy_(rm.view(n, c).mean(0))
        if running_var is not None:
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
    fused = _fused_or_none("layer", input, weight, bias, eps, shape)
    if fused is not None:
        return fused[0]
    return _ln_composed(input, len(shape), weight, bias, eps, _ns(input))


def group_norm(input: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Group normalization, as ``torch.nn.functional.group_norm``: the channels split into
    ``num_groups`` groups, each group of each example standardized, then per-channel
    ``weight``/``bias`` ``(C,)``."""
    _check_input(input, 2, "group_norm")
    if input.shape[1] % num_groups:
        raise ValueError(f"group_norm: {input.shape[1]} channels do not split into "
                         f"{num_groups} groups")
    fused = _fused_or_none("group", input, weight, bias, eps, num_groups)
    if fused is not None:
        return fused[0]
    return _gn_composed(input, num_groups, weight, bias, eps, _ns(input))


def rms_norm(input: torch.Tensor, normalized_shape, weight: torch.Tensor | None = None,
             eps: float | None = None) -> torch.Tensor:
    """RMS normalization, as ``torch.nn.functional.rms_norm``: ``x / sqrt(mean(x²) + eps)`` over
    the trailing ``normalized_shape``, times ``weight``; ``eps`` defaults to the dtype's machine
    epsilon. A zero slice gives 0 (with gradient 0 when ``eps = 0``)."""
    shape = _trailing(input, normalized_shape, "rms_norm")
    e = torch.finfo(input.dtype).eps if eps is None and input.is_floating_point() else eps
    fused = _fused_or_none("rms", input, weight, None, e, shape)
    if fused is not None:
        return fused[0]
    return _rms_composed(input, len(shape), weight, e, _ns(input))


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
    ns = _ns(input)
    d = ns.pow(ns.add(ns.mul(_window_mean(ns.mul(input, input), size), alpha), k), beta)
    zero = d == 0
    return ns.where(zero, 0.0, ns.div(input, ns.where(zero, 1.0, d)))

"""Every derivative rule of netgrad.ops, with its edge-case convention, in one table.

Notation: ``g`` is the incoming gradient (cotangent), ``y`` the output, ``⊙`` the *strong-zero*
product (``0 ⊙ anything = 0``, including ``inf`` and ``nan``; contract rule 3). Every backward
multiplies the local derivative into ``g`` with ``⊙``, so an exactly-zero cotangent (the unused
branch of a ``where``, a masked element) and an exactly-zero local derivative (the flat part of
Ramp, a saturated tanh) always give an exact 0.

Every rule is *executable*: it is registered in ``_registry.py``, which generates the autograd
Functions (backward, forward-mode ``jvp``, vmap) from it. A derivative is written once against a
namespace ``ns`` (``_registry.R``, ``T`` or ``F``): the robust operations themselves when the
backward is itself differentiated, so second derivatives keep the contract (rule 8); plain torch
with the strong-zero product ``ns.mul`` otherwise, checked by one read-back (eager CPU) or by
branch-free masks (traced, ``torch.func``, non-CPU devices). This module holds the unary rules.

The fast paths (no ``create_graph``) compute the same derivatives in fewer passes and fall back
to the careful formulas whenever a NaN or a non-finite entry shows up: tanh as 4σ(2x)σ(-2x) and
logistic_sigmoid as σ(-x)·y, with the σ factors from aten's fused ``softplus_backward`` on x;
prod and cumprod by in-place scans (blocked for cumprod); norm with one p > 0, normalize and
cross_entropy on indices as single Functions whose ``create_graph`` backward is the robust
composition. ``bench/ops.py`` times them against torch.

==================  ===========================================  =====================================
operation            derivative                                   edge-case convention
==================  ===========================================  =====================================
add, sub, neg        g, ±g                                        (torch's own; linear)
mul(a, b)            g ⊙ b, g ⊙ a                                 0 · inf = 0 in the gradient
div(a, b)            g ⊙ (1/b), -(g ⊙ (1/b)) ⊙ y                  b = 0: ±inf (true); b = ±inf: 0
pow(x, p)            g ⊙ (p ⊙ x^(p-1)); g ⊙ (y ⊙ L)               p = 0: d/dx = 0 everywhere;
                     with L = log|x|, and L := 0 at x = 0         d/dp at x = 0 is 0; x < 0 (integer
                                                                  p): L = log|x| (real part)
sqrt                 g ⊙ 0.5/y                                    x = 0: +inf (rule 7)
exp                  g ⊙ y                                        x = -inf: 0 (kills inf g)
log                  g ⊙ 1/x                                      x = 0: +inf (rule 7)
log1p                g ⊙ 1/(1+x)                                  x = -1: +inf
expm1                g ⊙ eˣ  (not y + 1, which loses eˣ where y ≈ -1)
abs                  g ⊙ sign(x)                                  x = 0: 0 (minimum-norm subgradient)
ramp                 g where x > 0 else 0                         x = 0: 0 (rule 4)
sign                 0                                            x = 0: 0
tanh                 g ⊙ 2σ(-2|x|)(1 + |y|)  (= 1 - y²)           accurate where 1 - y² rounds to 0
logistic_sigmoid     g ⊙ σ(x)σ(-x)  (= y(1 - y))                  accurate where 1 - y rounds to 0
softplus(β, t)       g ⊙ σ(βx); 1 where βx > t                    same threshold as torch
sin, cos             g ⊙ cos x, g ⊙ (-sin x)
sinc                 g ⊙ (cos πx - sinc x)/x                      series near 0; x = 0: 0
atan2(y, x)          g ⊙ x/r², -g ⊙ y/r², r = hypot(y, x)         r = 0 or r = inf: 0 (rule 5)
hypot(x, y)          g ⊙ x/r, g ⊙ y/r                             r = 0: 0 (rule 4); one infinite
                                                                  input: ±1 for it, 0 for the other
xlogy(x, y)          g ⊙ log y, (g ⊙ x) ⊙ (1/y)                   x = 0: d/dy = 0; y = 0: d/dx = -inf
where(c, a, b)       g where c else 0, g where ¬c else 0          the unused branch gets an exact 0
clip(x, lo, hi)      g where lo < x < hi else 0 (number bounds)   at a number bound: 0 (rule 4);
                     tensor bounds: as maximum/minimum            tensor bound tie: ½ / ½
maximum, minimum     g to the larger (smaller) input              ties: ½ / ½
sum, mean            broadcast g (÷ n)                            (torch's own; linear)
amax, amin           g split evenly among the tied extremes       (torch's own rule)
prod                 g ⊙ Π_{j<i} x_j ⊙ Π_{j>i} x_j                exclusive prefix/suffix products,
                                                                  never y / x (rule 2)
cumprod              y_{k-1} ⊙ s_k, s_k = g_k + x_{k+1} ⊙ s_{k+1}  reverse affine scan (log-depth),
                                                                  no division (rule 2)
logsumexp            g ⊙ exp(x - y)                               all -inf: y = -inf, gradient 0;
                                                                  +inf entries share g evenly
softmax              y ⊙ (g - Σ g ⊙ y)                            all -inf slice: y = 0, gradient 0
log_softmax          g - exp(y) ⊙ Σ g                             all -inf slice: y = -inf, grad 0
norm(x, 2)           x ⊙ (g / ‖x‖)                                ‖x‖ = 0: 0 (rule 4); computed
                                                                  relative to max|x| when needed
norm(x, p), tensor p composed: m·exp(logsumexp(p·ℓ)/p),           zero vector: 0 for x and p;
                     ℓ = log|x| - log m, m = max|x|               p = ±inf: max/min; p = 0: count
power_mean(x, p)     composed: m·exp(log1p(mean expm1(p·ℓ))/p)    p = 0: geometric mean; small |p|:
                                                                  cumulant series; p = ±inf: max/min;
                                                                  p < 0 is relative to min|x|
geometric_mean       composed: exp(mean log|x|)                   any zero: 0 with gradient 0
var                  (torch's own) 2 g (x - x̄)/(n - c)
std                  (g / ((n - c) s)) ⊙ (x - x̄)                  constant slice (s = 0): 0 (rule 4)
normalize            composed: x / ‖x‖                            zero vector: 0, gradient 0; no eps
cosine_similarity    composed: Σ normalize(a) ⊙ normalize(b)      a zero vector: 0, gradient 0
binary_cross_entropy composed: -(xlogy(t, p) + xlogy(1-t, 1-p))   no eps clamp: p = 0, t = 0 has
                                                                  d/dp = 1; p = 0, t = 1 is +inf
cross_entropy        composed: nll(log_softmax(x))                masked (-inf) logits: gradient 0
linear               g W, gᵀ x (torch's products)                 strong zeros: a result with a NaN
                                                                  is redone with 0·anything = 0
matmul               g Bᵀ, Aᵀ g (any ranks, broadcasting)        strong zeros as for linear
==================  ===========================================  =====================================
"""

from __future__ import annotations

import math

import torch

from ._core import all_finite, strong_
from ._registry import elementwise, register

__all__ = ["UNARY"]


def _unary(name: str, fn, d=None, *, saves: str, grad=None, fast=None, fused=None,
           derivative: str = "", convention: str = ""):
    """Register the unary rule ``name``: ``fn(x, *params)`` with local derivative
    ``d(ns, x, y, *params)`` (or ``grad(ns, g, x, y, *params)``, a mask rule). ``fast(x, y,
    *params)`` computes ``d`` as a fresh tensor in few passes; ``fused(g, x, y, *params)``
    computes ``g ⊙ d`` with torch's fused kernels or returns None where it does not apply; both
    are first-order, eager-CPU shortcuts whose result is checked (a non-finite entry falls back
    to the strong-zero formula)."""

    def fast_vjp(g, s):
        x, y, params = s.inputs[0], s.y, s.params
        if grad is not None:
            return None
        if fused is not None:
            r = fused(g, x, y, *params)
            if r is not None and all_finite(r):
                return (r,)
        if fast is not None:  # d is a fresh tensor: multiply g into it in place
            r = fast(x, y, *params).mul_(g)
            return (strong_(r, g, lambda: fast(x, y, *params)),)
        return None

    saved = (0,) if "x" in saves else ()
    rule = elementwise(name, fn, (d,), saves=saved,
                       save_output="y" in saves, grads=(grad,), fast=fast_vjp,
                       derivative=derivative, convention=convention)
    return register(rule)


def _sinc_d(ns, x, y):
    # (cos z - sinc x) / x with z = πx; near 0 the series π·z·(-1/3 + z²/30 - z⁴/840 + z⁶/45360
    # - z⁸/3991680), switched at the |z| where truncation and cancellation errors meet.
    z = ns.mul(x, math.pi)
    z2 = ns.mul(z, z)
    poly = ns.add(-1 / 3, ns.mul(z2, ns.add(1 / 30, ns.mul(z2, ns.add(-1 / 840, ns.mul(
        z2, ns.add(1 / 45360, ns.mul(z2, -1 / 3991680))))))))
    series = ns.mul(ns.mul(z, poly), math.pi)
    general = ns.div(ns.sub(ns.cos(z), y), x)
    tau = 0.15 if x.dtype == torch.float64 else 1.0
    return ns.where(x.abs() < tau / math.pi, series, general)


def _softplus_d(ns, x, y, beta, threshold):
    bx = ns.mul(x, beta)
    return ns.where(bx > threshold, 1.0, ns.logistic_sigmoid(bx))


def _tanh_d(ns, x, y):
    # 1 - y² = (1 - |y|)(1 + |y|), with 1 - |y| = 2σ(-2|x|) computed without cancellation, so
    # the derivative keeps its relative accuracy where tanh saturates (1 - y² would round to 0).
    return ns.mul(ns.mul(ns.logistic_sigmoid(ns.mul(ns.abs(x), -2.0)), 2.0),
                  ns.add(ns.abs(y), 1.0))


def _tanh_fast(x, y):
    return torch.sigmoid(x.abs().mul_(-2.0)).mul_(2.0).mul_(y.abs().add_(1.0))


def _ramp_grad(ns, g, x, y):
    if ns.fast:  # one fused pass: g where y > 0 else exactly 0
        return torch.ops.aten.threshold_backward(g, y, 0)
    return ns.where(y > 0, g, 0.0)


# σ(t) rounds to 1 above these, so aten's softplus_backward(g, x, β, t) — g·z/(z + 1) with
# z = exp(βx), or g where βx > t — is g·σ(βx) to rounding, with z ≤ exp(t) finite.
_SIGMOID_ONE = {torch.float32: 20.0, torch.float64: 40.0}
_spb = torch.ops.aten.softplus_backward
_spb_into = torch.ops.aten.softplus_backward.grad_input


def _sigmoid_fused(g, x, y):
    # g ⊙ σ(-x) ⊙ y in two passes; σ(-x) comes from x (never 1 - y), so it keeps its relative
    # accuracy where σ saturates. A huge g can overflow g·z: not finite, so the caller
    # falls back to the fast path.
    t = _SIGMOID_ONE.get(x.dtype)
    if t is None or g.shape != x.shape:
        return None
    return _spb(g, x, -1.0, t).mul_(y)


def _tanh_fused(g, x, y):
    # 1 - y² = 4σ(2x)σ(-2x), both factors from x: three passes, one allocation.
    t = _SIGMOID_ONE.get(x.dtype)
    if t is None or g.shape != x.shape:
        return None
    r = _spb(g, x, 2.0, t)
    return _spb_into(r, x, -2.0, t, grad_input=r).mul_(4.0)


def _softplus_fused(g, x, y, beta, threshold):
    # torch's own softplus backward is exactly this rule: g where βx > t, else g·σ(βx).
    if x.dtype not in _SIGMOID_ONE or g.shape != x.shape:
        return None
    return _spb(g, x, beta, threshold)


def _softplus_fast(x, y, beta, threshold):
    bx = x * beta
    over = bx > threshold
    return bx.sigmoid_().masked_fill_(over, 1.0)


def _sign_grad(ns, g, x, y):
    return torch.zeros_like(g)


def _softplus_fn(x, beta, threshold):
    return torch.nn.functional.softplus(x, beta=beta, threshold=threshold)


#: The elementwise rules, by operation name: the callables that apply them.
UNARY = {
    "sqrt": _unary("sqrt", torch.sqrt, lambda ns, x, y: ns.div(0.5, y), saves="y",
                   fast=lambda x, y: y.reciprocal().mul_(0.5),
                   derivative="g ⊙ 0.5/y", convention="x = 0: +inf (rule 7)"),
    "exp": _unary("exp", torch.exp, lambda ns, x, y: y, saves="y", fast=lambda x, y: y.clone(),
                  derivative="g ⊙ y", convention="x = -inf: 0 (kills inf g)"),
    "log": _unary("log", torch.log, lambda ns, x, y: ns.div(1.0, x), saves="x",
                  fast=lambda x, y: x.reciprocal(), derivative="g ⊙ 1/x",
                  convention="x = 0: +inf (rule 7)"),
    "log1p": _unary("log1p", torch.log1p, lambda ns, x, y: ns.div(1.0, ns.add(x, 1.0)), saves="x",
                    fast=lambda x, y: (x + 1.0).reciprocal_(), derivative="g ⊙ 1/(1+x)",
                    convention="x = -1: +inf"),
    "expm1": _unary("expm1", torch.expm1, lambda ns, x, y: ns.exp(x), saves="x",
                    fast=lambda x, y: x.exp(), derivative="g ⊙ eˣ (not y + 1)"),
    "abs": _unary("abs", torch.abs, lambda ns, x, y: ns.sign(x), saves="x",
                  fast=lambda x, y: x.sign(), derivative="g ⊙ sign(x)",
                  convention="x = 0: 0 (minimum-norm subgradient)"),
    "ramp": _unary("ramp", torch.relu, lambda ns, x, y: (y > 0).to(y.dtype), saves="y",
                   grad=_ramp_grad,
                   derivative="g where x > 0 else 0", convention="x = 0: 0 (rule 4)"),
    "sign": _unary("sign", torch.sign, lambda ns, x, y: 0.0, saves="", grad=_sign_grad,
                   derivative="0",
                   convention="x = 0: 0"),
    "tanh": _unary("tanh", torch.tanh, _tanh_d, saves="xy", fast=_tanh_fast, fused=_tanh_fused,
                   derivative="g ⊙ 2σ(-2|x|)(1 + |y|)",
                   convention="accurate where 1 - y² rounds to 0"),
    "logistic_sigmoid": _unary(
        "logistic_sigmoid", torch.sigmoid,
        lambda ns, x, y: ns.mul(y, ns.logistic_sigmoid(ns.neg(x))), saves="xy",
        fast=lambda x, y: torch.sigmoid(-x).mul_(y), fused=_sigmoid_fused,
        derivative="g ⊙ σ(x)σ(-x)", convention="accurate where 1 - y rounds to 0"),
    "softplus": _unary("softplus", _softplus_fn, _softplus_d, saves="x", fast=_softplus_fast,
                       fused=_softplus_fused, derivative="g ⊙ σ(βx); 1 where βx > t",
                       convention="same threshold as torch"),
    "sin": _unary("sin", torch.sin, lambda ns, x, y: ns.cos(x), saves="x",
                  fast=lambda x, y: x.cos(), derivative="g ⊙ cos x"),
    "cos": _unary("cos", torch.cos, lambda ns, x, y: ns.neg(ns.sin(x)), saves="x",
                  fast=lambda x, y: x.sin().neg_(), derivative="g ⊙ (-sin x)"),
    "sinc": _unary("sinc", torch.sinc, _sinc_d, saves="xy",
                   derivative="g ⊙ (cos πx - sinc x)/x", convention="series near 0; x = 0: 0"),
}

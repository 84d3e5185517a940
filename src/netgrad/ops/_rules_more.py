"""More elementwise rules: the torch functions whose own backward can make a NaN or an infinity
where the mathematics is finite (a zero cotangent times an infinite or NaN derivative at a
domain edge, an overflowing intermediate, ∞·0 at x = ±inf), registered in the rule registry.

Each rule declares where a zero of its local derivative is **exact** (mathematically 0: the flat
part of hardswish, eˣ at x = -inf) and where a computed zero can only be an **underflow**
(erf' at x = 12, σ(-x) at x = 200): exact zeros are strong (they kill an infinite cotangent,
contract rule 3), underflowed ones meet an infinite cotangent as the indeterminate NaN they are
(rule 9, ``_underflow.py``). "exact: all" means every computed zero of the derivative is exact.

==================  ==========================================  ===============================
operation            derivative                                  exact zeros / convention
==================  ==========================================  ===============================
log2, log10          g ⊙ 1/(x ln b)                              x = 0: +inf (true)
exp2                 g ⊙ y ln 2                                  exact at x = -inf only
rsqrt                g ⊙ -½ y³                                   x = 0: -inf (true); exact at ±inf
reciprocal           g ⊙ -y²                                     x = 0: -inf (true); exact at ±inf
square               g ⊙ 2x                                      all (x = 0)
asin, acos           ±g ⊙ 1/√((1-x)(1+x))                        x = ±1: ±inf (true)
atan                 g ⊙ 1/(1+x²), as u²/(1+u²), u = 1/x, |x|>1  exact at ±inf (no overflow of x²)
sinh, cosh           g ⊙ cosh x, g ⊙ sinh x                      all
asinh                g ⊙ 1/hypot(x, 1)                           exact at ±inf (no overflow)
acosh                g ⊙ 1/(√(x-1)√(x+1))                        x = 1: +inf (true)
atanh                g ⊙ 1/((1-x)(1+x))                          x = ±1: +inf (true)
tan                  g ⊙ (1 + y²)                                all (never 0)
erf, erfc            ±g ⊙ 2/√π e^(-x²)                           exact at ±inf only
erfinv               g ⊙ √π/2 e^(y²)                             x = ±1: +inf (true)
ndtr                 g ⊙ e^(-x²/2)/√(2π)                         exact at ±inf only
logsigmoid           g ⊙ σ(-x)                                   exact at x = +inf only
logit(x, eps)        g ⊙ 1/(x(1-x)); 0 outside [eps, 1-eps]      x = 0, 1: +inf (true)
gelu (none, tanh)    g ⊙ (Φ(x) + xφ(x)) (tanh: its own form)     exact at -inf; gelu(-inf) = 0
silu                 g ⊙ σ(x)(1 + xσ(-x))                        exact at -inf; silu(-inf) = 0
mish                 g ⊙ (t + x sech²(sp) σ(x)), sp = softplus    exact at -inf; mish(-inf) = 0
elu, selu, celu      g ⊙ (1 for x > 0, else αeˣ (celu: e^(x/α)))  exact at -inf (and α = 0)
softsign             g ⊙ 1/(1+|x|)²                              exact at ±inf; softsign(±inf) = ±1
hardswish            g ⊙ (0 | (2x+3)/6 | 1)                      all; kinks x = ∓3: 0 and 1
                                                                 (minimum-norm subgradient)
hardsigmoid          g ⊙ (1/6 inside (-3, 3), else 0)            all
logaddexp(a, b)      g ⊙ σ(a-b), g ⊙ σ(b-a)                      both -inf: 0, 0; both +inf: ½, ½
logaddexp2(a, b)     g ⊙ σ((a-b) ln 2), g ⊙ σ((b-a) ln 2)        as logaddexp
==================  ==========================================  ===============================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from ._core import is_float
from ._registry import elementwise, register
from ._underflow import weak_mul

__all__ = ["MORE", "BINARY_MORE"]

_INF = math.inf
_LN2 = math.log(2.0)
_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _isinf(x):
    return x.abs() == _INF


_EXACT = {
    "inf": _isinf,
    "-inf": lambda x: x == -_INF,
    "+inf": lambda x: x == _INF,
}


def _plain(ns) -> bool:
    return bool(ns.fast or ns.sync_free)


def _u(name: str, fn, d, *, saves: str = "x", exact="all", derivative: str = "",
       convention: str = ""):
    """Register the unary rule ``name``: ``fn(x, *params)``, local derivative
    ``d(ns, x, y, *params)``; ``exact`` is "all", "inf", "-inf", "+inf" or ``mask(x, *params)``
    (where a zero of ``d`` is exact)."""
    grad = None
    if exact != "all":
        mask = _EXACT[exact] if isinstance(exact, str) else exact

        def grad(ns, g, x, y, *params):
            return weak_mul(ns, g, d(ns, x, y, *params), lambda: mask(x, *params)
                            if not isinstance(exact, str) else mask(x), name, x)

    saved = (0,) if "x" in saves or exact != "all" else ()
    rule = elementwise(name, fn, (d,), saves=saved, save_output="y" in saves, grads=(grad,),
                       derivative=derivative, convention=convention)
    op = register(rule)

    def call(x, *params):
        if not isinstance(x, torch.Tensor) or not is_float(x):
            return fn(x, *params)
        return op(x, *params)

    call.__name__ = name
    call.__doc__ = f"{name} (netgrad rule): derivative {derivative}; {convention}".rstrip("; ")
    return call


# ----------------------------------------------------------------------------- derivatives
def _asin_d(ns, x, y):
    return ns.div(1.0, ns.sqrt(ns.mul(ns.sub(1.0, x), ns.add(x, 1.0))))


def _atan_d(ns, x, y):
    u = ns.div(1.0, x)
    u2 = ns.mul(u, u)
    x2 = ns.mul(x, x)
    return ns.where(x.abs() > 1, ns.div(u2, ns.add(u2, 1.0)), ns.div(1.0, ns.add(x2, 1.0)))


def _erf_d(ns, x, y):
    return ns.mul(ns.exp(ns.neg(ns.mul(x, x))), 2.0 / _SQRT_PI)


def _gelu_d(ns, x, y, approximate):
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        x2 = ns.mul(x, x)
        u = ns.mul(ns.add(x, ns.mul(ns.mul(x2, x), 0.044715)), k)
        up = ns.mul(ns.add(ns.mul(x2, 3 * 0.044715), 1.0), k)
        s = ns.logistic_sigmoid(ns.mul(u, 2.0))          # (1 + tanh u)/2
        sech2 = ns.mul(ns.mul(s, ns.logistic_sigmoid(ns.mul(u, -2.0))), 4.0)
        return ns.add(s, ns.mul(ns.mul(ns.mul(x, 0.5), sech2), up))
    cdf = ns.mul(ns.erfc(ns.mul(x, -_INV_SQRT2)), 0.5)
    pdf = ns.mul(ns.exp(ns.mul(ns.mul(x, x), -0.5)), _INV_SQRT_2PI)
    return ns.add(cdf, ns.mul(x, pdf))


def _silu_d(ns, x, y):
    s = ns.logistic_sigmoid(x)
    return ns.mul(s, ns.add(ns.mul(x, ns.logistic_sigmoid(ns.neg(x))), 1.0))


def _softplus1(ns, x):
    if _plain(ns):
        return TF.softplus(x)
    return ns.softplus(x, 1.0, 20.0)


def _mish_d(ns, x, y):
    sp = _softplus1(ns, x)
    t = ns.tanh(sp)
    sech2 = ns.mul(ns.mul(ns.logistic_sigmoid(ns.mul(sp, -2.0)), 2.0), ns.add(t, 1.0))
    return ns.add(t, ns.mul(ns.mul(x, sech2), ns.logistic_sigmoid(x)))


def _elu_d(ns, x, y, alpha, scale=1.0, inv=1.0):
    neg = ns.mul(ns.exp(ns.mul(x, inv) if inv != 1.0 else x), alpha * scale)
    return ns.where(x > 0, scale, neg)


def _softsign_d(ns, x, y):
    r = ns.div(1.0, ns.add(ns.abs(x), 1.0))
    return ns.mul(r, r)


def _hardswish_d(ns, x, y):
    mid = ns.add(ns.mul(x, 1.0 / 3.0), 0.5)
    return ns.where(x <= -3.0, 0.0, ns.where(x >= 3.0, 1.0, mid))


def _hardsigmoid_d(ns, x, y):
    inside = (x > -3.0) & (x < 3.0)
    return inside.to(x.dtype) * (1.0 / 6.0)


def _logit_d(ns, x, y, eps):
    d = ns.div(1.0, ns.mul(x, ns.sub(1.0, x)))
    if eps is None:
        return d
    return ns.where((x < eps) | (x > 1.0 - eps), 0.0, d)


# ----------------------------------------------------------------------------- stable forwards
def _fill_neg_inf(y, x):
    """The limit 0 at x = -inf (x·Φ(x), x·σ(x), x·tanh(softplus x) are ∞·0 there)."""
    return y.masked_fill_(x == -_INF, 0.0) if y.numel() else y


def _gelu_fwd(x, approximate):
    return _fill_neg_inf(TF.gelu(x, approximate=approximate), x)


def _silu_fwd(x):
    return _fill_neg_inf(TF.silu(x), x)


def _mish_fwd(x):
    return _fill_neg_inf(TF.mish(x), x)


def _softsign_fwd(x):
    y = x / (x.abs() + 1.0)
    inf = _isinf(x)
    return torch.where(inf, torch.sign(x), y) if y.numel() else y


MORE = {
    "log2": _u("log2", torch.log2, lambda ns, x, y: ns.div(1.0 / _LN2, x),
               derivative="g ⊙ 1/(x ln 2)", convention="x = 0: +inf (true)"),
    "log10": _u("log10", torch.log10, lambda ns, x, y: ns.div(1.0 / math.log(10.0), x),
                derivative="g ⊙ 1/(x ln 10)", convention="x = 0: +inf (true)"),
    "exp2": _u("exp2", torch.exp2, lambda ns, x, y: ns.mul(y, _LN2), saves="xy", exact="-inf",
               derivative="g ⊙ y ln 2", convention="exact zero at x = -inf only"),
    "rsqrt": _u("rsqrt", torch.rsqrt, lambda ns, x, y: ns.mul(ns.mul(ns.mul(y, y), y), -0.5),
                saves="xy", exact="inf", derivative="g ⊙ -½y³",
                convention="x = 0: -inf (true); exact zero at ±inf"),
    "reciprocal": _u("reciprocal", torch.reciprocal, lambda ns, x, y: ns.neg(ns.mul(y, y)),
                     saves="xy", exact="inf", derivative="g ⊙ -y²",
                     convention="x = 0: -inf (true); exact zero at ±inf"),
    "square": _u("square", torch.square, lambda ns, x, y: ns.mul(x, 2.0),
                 derivative="g ⊙ 2x", convention="x = 0: 0 (exact)"),
    "asin": _u("asin", torch.asin, _asin_d, derivative="g ⊙ 1/√((1-x)(1+x))",
               convention="x = ±1: +inf (true)"),
    "acos": _u("acos", torch.acos, lambda ns, x, y: ns.neg(_asin_d(ns, x, y)),
               derivative="-g ⊙ 1/√((1-x)(1+x))", convention="x = ±1: -inf (true)"),
    "atan": _u("atan", torch.atan, _atan_d, exact="inf", derivative="g ⊙ 1/(1+x²)",
               convention="u²/(1+u²) with u = 1/x for |x| > 1 (x² never overflows)"),
    "sinh": _u("sinh", torch.sinh, lambda ns, x, y: ns.cosh(x), derivative="g ⊙ cosh x"),
    "cosh": _u("cosh", torch.cosh, lambda ns, x, y: ns.sinh(x), derivative="g ⊙ sinh x",
               convention="x = 0: 0 (exact)"),
    "asinh": _u("asinh", torch.asinh,
                lambda ns, x, y: ns.div(1.0, ns.hypot(x, torch.ones_like(x))), exact="inf",
                derivative="g ⊙ 1/hypot(x, 1)", convention="no overflow of x²"),
    "acosh": _u("acosh", torch.acosh,
                lambda ns, x, y: ns.div(1.0, ns.mul(ns.sqrt(ns.sub(x, 1.0)),
                                                    ns.sqrt(ns.add(x, 1.0)))),
                exact="inf", derivative="g ⊙ 1/(√(x-1)√(x+1))", convention="x = 1: +inf (true)"),
    "atanh": _u("atanh", torch.atanh,
                lambda ns, x, y: ns.div(1.0, ns.mul(ns.sub(1.0, x), ns.add(x, 1.0))),
                derivative="g ⊙ 1/((1-x)(1+x))", convention="x = ±1: +inf (true)"),
    "tan": _u("tan", torch.tan, lambda ns, x, y: ns.add(ns.mul(y, y), 1.0), saves="y",
              derivative="g ⊙ (1 + y²)"),
    "erf": _u("erf", torch.erf, _erf_d, exact="inf", derivative="g ⊙ 2/√π e^(-x²)",
              convention="exact zero at ±inf only"),
    "erfc": _u("erfc", torch.erfc, lambda ns, x, y: ns.neg(_erf_d(ns, x, y)), exact="inf",
               derivative="-g ⊙ 2/√π e^(-x²)", convention="exact zero at ±inf only"),
    "erfinv": _u("erfinv", torch.erfinv,
                 lambda ns, x, y: ns.mul(ns.exp(ns.mul(y, y)), _SQRT_PI / 2.0), saves="y",
                 derivative="g ⊙ √π/2 e^(y²)", convention="x = ±1: +inf (true)"),
    "ndtr": _u("ndtr", torch.special.ndtr,
               lambda ns, x, y: ns.mul(ns.exp(ns.mul(ns.mul(x, x), -0.5)), _INV_SQRT_2PI),
               exact="inf", derivative="g ⊙ e^(-x²/2)/√(2π)",
               convention="exact zero at ±inf only"),
    "logsigmoid": _u("logsigmoid", TF.logsigmoid,
                     lambda ns, x, y: ns.logistic_sigmoid(ns.neg(x)), exact="+inf",
                     derivative="g ⊙ σ(-x)", convention="exact zero at x = +inf only"),
    "logit": _u("logit", torch.logit, _logit_d, derivative="g ⊙ 1/(x(1-x))",
                convention="0 outside [eps, 1-eps]; x = 0, 1: +inf (true)"),
    "gelu": _u("gelu", _gelu_fwd, _gelu_d, exact="-inf", derivative="g ⊙ (Φ(x) + xφ(x))",
               convention="gelu(-inf) = 0 (the limit); exact zero at -inf only"),
    "silu": _u("silu", _silu_fwd, _silu_d, exact="-inf", derivative="g ⊙ σ(x)(1 + xσ(-x))",
               convention="silu(-inf) = 0 (the limit); exact zero at -inf only"),
    "mish": _u("mish", _mish_fwd, _mish_d, exact="-inf",
               derivative="g ⊙ (tanh sp + x sech²(sp) σ(x))",
               convention="mish(-inf) = 0 (the limit); exact zero at -inf only"),
    "elu": _u("elu", lambda x, alpha: TF.elu(x, alpha), lambda ns, x, y, a: _elu_d(ns, x, y, a),
              exact=lambda x, a: (x == -_INF) | ((x <= 0) if a == 0 else (x != x)),
              derivative="g ⊙ (1 for x > 0 else αeˣ)", convention="exact zero at -inf only"),
    "selu": _u("selu", TF.selu,
               lambda ns, x, y: _elu_d(ns, x, y, _SELU_ALPHA, _SELU_SCALE), exact="-inf",
               derivative="g ⊙ λ(1 for x > 0 else αeˣ)", convention="exact zero at -inf only"),
    "celu": _u("celu", lambda x, alpha: TF.celu(x, alpha),
               lambda ns, x, y, a: _elu_d(ns, x, y, 1.0, 1.0, 1.0 / a), exact="-inf",
               derivative="g ⊙ (1 for x > 0 else e^(x/α))", convention="exact zero at -inf only"),
    "softsign": _u("softsign", _softsign_fwd, _softsign_d, exact="inf",
                   derivative="g ⊙ 1/(1+|x|)²", convention="softsign(±inf) = ±1"),
    "hardswish": _u("hardswish", TF.hardswish, _hardswish_d,
                    derivative="g ⊙ (0 | (2x+3)/6 | 1)",
                    convention="x = -3: 0, x = 3: 1 (minimum-norm subgradient)"),
    "hardsigmoid": _u("hardsigmoid", TF.hardsigmoid, _hardsigmoid_d,
                      derivative="g ⊙ 1/6 inside (-3, 3)", convention="0 at and beyond ±3"),
}


# ----------------------------------------------------------------------------- logaddexp
def _lae_d(first: bool, base2: bool):
    def d(ns, a, b, y):
        x, o = (a, b) if first else (b, a)
        diff = ns.sub(x, o)
        s = ns.logistic_sigmoid(ns.mul(diff, _LN2) if base2 else diff)
        same = (x == o) & _isinf(x)  # both -inf: 0 (the logsumexp convention); both +inf: ½
        return ns.where(same, torch.where(x > 0, 0.5, 0.0).to(s.dtype), s)

    return d


def _lae_exact(first: bool):
    def mask(a, b):
        x, o = (a, b) if first else (b, a)
        return (x == -_INF) | (o == _INF)

    return mask


def _binary_rule(name: str, fn, base2: bool):
    ds = (_lae_d(True, base2), _lae_d(False, base2))
    masks = (_lae_exact(True), _lae_exact(False))

    def grad(i):
        def gi(ns, g, a, b, y):
            return weak_mul(ns, g, ds[i](ns, a, b, y), lambda: masks[i](a, b), name,
                            a if i == 0 else b)
        return gi

    op = register(elementwise(
        name, fn, ds, saves=(0, 1), grads=(grad(0), grad(1)),
        derivative="g ⊙ σ(a-b), g ⊙ σ(b-a)" + (" (base 2: σ((a-b) ln 2))" if base2 else ""),
        convention="both -inf: 0, 0; both +inf: ½, ½"))

    def call(a, b):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or \
                not is_float(a, b):
            return fn(a, b)
        return op(a, b)

    call.__name__ = name
    return call


BINARY_MORE = {
    "logaddexp": _binary_rule("logaddexp", torch.logaddexp, False),
    "logaddexp2": _binary_rule("logaddexp2", torch.logaddexp2, True),
}

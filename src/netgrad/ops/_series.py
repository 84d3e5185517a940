"""Truncated Taylor (jet) arithmetic with leading-zero cancellation.

A :class:`Jet` is a truncated Laurent series in one real variable ``t``, element by element::

    a(t) = Σ_k c[k] · t^(v + k)  +  O(t^(v + n))        (k = 0 … n - 1)

with ``c`` of shape ``(N, L)`` (``N`` stored coefficients for each of ``L`` elements), the
valuation ``v`` and the number of known coefficients ``n`` per element (int64, shape ``(L,)``),
and ``bad`` (bool, ``(L,)``) where no series exists (a NaN or infinite centre, a square root of a
negative number, a jump). ``cut`` marks elements where an operation is continuous but not
analytic at the centre (``sqrt`` or ``abs`` at 0, a tie in ``maximum``); the evaluator then
treats that operation's output as a variable of its own (see ``_limits.py``); ``cut_inf`` says
the operation's derivative there is infinite (``sqrt`` at 0), where the chain rule through the
cut would be ``0 · inf``.

Why Laurent series and valuations: ``sin(t)/t`` is ``(t - t³/6 + …)/t``; dividing shifts both
series past their common leading zeros (``t`` cancels) and gives ``1 - t²/6 + …``, the limit and
its derivatives. ``1/t - 1/sin(t)`` is ``t⁻¹ - t⁻¹(1 + t²/6 + …) = -t/6 + …``: the poles cancel in
the subtraction. Each cancellation costs one known coefficient, which ``n`` keeps track of, so a
result is never reported to more orders than the arithmetic determined.

Everything here is vectorized over elements (no Python loop over elements, only over the
``N`` orders) and branch-free (``torch.where`` and ``gather``), in float64. Recurrences follow
Griewank and Walther, *Evaluating Derivatives* (2008), ch. 13.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["Jet", "Bools", "Series"]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _dot(a: torch.Tensor, h: torch.Tensor, k: int) -> torch.Tensor:
    """``Σ_{j=1..k} j a_j h_(k-j)``, the convolution in the chain rule ``y' = h a'``."""
    j = torch.arange(1, k + 1, device=a.device, dtype=a.dtype)[:, None]
    return (j * a[1:k + 1] * h[:k].flip(0)).sum(0)


class Bools:
    """A boolean value per element of a jet (the result of a comparison), with ``ambiguous``
    where the compared values are equal at the centre, so the answer depends on the direction
    of approach."""

    __slots__ = ("value", "ambiguous")

    def __init__(self, value: torch.Tensor, ambiguous: torch.Tensor) -> None:
        self.value, self.ambiguous = value, ambiguous


class Jet:
    """A truncated Laurent series per element (see the module docstring)."""

    __slots__ = ("c", "v", "n", "bad", "cut", "cut_inf")

    def __init__(self, c, v, n, bad, cut=None, cut_inf=None) -> None:
        self.c, self.v, self.n, self.bad = c, v, n, bad
        self.cut, self.cut_inf = cut, cut_inf

    @property
    def unknown(self) -> torch.Tensor:
        """Elements whose centre value the known coefficients do not determine."""
        return (self.n <= 0) & (self.v <= 0)

    @property
    def value(self) -> torch.Tensor:
        """The centre value ``a(0)``: inf for a pole, 0 for a positive valuation, NaN where
        :attr:`unknown`."""
        c0 = self.c[0]
        out = torch.where(self.v == 0, c0, torch.where(self.v > 0, torch.zeros_like(c0),
                                                       c0 * math.inf))
        return torch.where(self.unknown, math.nan, out)


class Series:
    """Jet arithmetic with ``N`` stored coefficients for ``L`` elements on one device."""

    def __init__(self, N: int, L: int, device: torch.device) -> None:
        self.N, self.L, self.device = N, L, device
        self.dtype = torch.float64
        self.k = torch.arange(N, device=device)
        self._zi = torch.zeros(L, dtype=torch.int64, device=device)
        self._false = torch.zeros(L, dtype=torch.bool, device=device)

    # ---- construction --------------------------------------------------------------------
    def _full_n(self) -> torch.Tensor:
        return torch.full((self.L,), self.N, dtype=torch.int64, device=self.device)

    def constant(self, value) -> Jet:
        """A constant: ``value`` (a number or an ``(L,)`` tensor) with all other coefficients 0."""
        c = torch.zeros(self.N, self.L, dtype=self.dtype, device=self.device)
        c[0] = value
        bad = ~torch.isfinite(c[0])
        c[0] = torch.where(bad, 0.0, c[0])
        return Jet(c, self._zi, self._full_n(), bad)

    def variable(self, centre: torch.Tensor, direction: torch.Tensor) -> Jet:
        """``centre + direction · t`` (both ``(L,)``)."""
        c = torch.zeros(self.N, self.L, dtype=self.dtype, device=self.device)
        c[0] = centre
        if self.N > 1:
            c[1] = direction
        bad = ~torch.isfinite(centre)
        c[0] = torch.where(bad, 0.0, c[0])
        return Jet(c, self._zi, self._full_n(), bad)

    def lift(self, a) -> Jet:
        return a if isinstance(a, Jet) else self.constant(a)

    # ---- bookkeeping -----------------------------------------------------------------------
    def _mask(self, c: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return torch.where(self.k[:, None] < n[None, :], c, 0.0)

    def shift(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``out[k] = c[k - s]`` per element (zeros shifted in; ``s`` may be negative)."""
        idx = self.k[:, None] - s[None, :]
        ok = (idx >= 0) & (idx < self.N)
        return torch.where(ok, torch.gather(c, 0, idx.clamp(0, self.N - 1)), 0.0)

    def normalize(self, a: Jet) -> Jet:
        """Shift out exact leading zeros: afterwards ``c[0] != 0`` wherever ``n > 0``. A series
        with no non-zero known coefficient becomes ``O(t^(v + n))`` with ``n = 0``."""
        nz = (a.c != 0) & (self.k[:, None] < a.n[None, :])
        lead = torch.where(nz.any(0), nz.to(torch.int8).argmax(0), a.n)
        return Jet(self.shift(a.c, -lead), a.v + lead, a.n - lead, a.bad, a.cut, a.cut_inf)

    def taylor(self, a: Jet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``a`` as a Taylor series around ``t = 0``: ``(coefficients (N, L), n, pole)``, where
        ``pole`` marks elements with a negative valuation (no Taylor series)."""
        a = self.normalize(a)
        pole = (a.v < 0) & (a.n > 0)
        s = a.v.clamp(min=0)
        return self.shift(a.c, s), torch.minimum(s + a.n, self._full_n()), pole

    def _from_taylor(self, c, n, bad, cut=None, cut_inf=None) -> Jet:
        c = self._mask(torch.where(bad[None, :], 0.0, c), n)
        return Jet(c, self._zi, n, bad, cut, cut_inf)

    def _bad(self, *xs) -> torch.Tensor:
        out = self._false
        for x in xs:
            if isinstance(x, Jet):
                out = out | x.bad
        return out

    # ---- arithmetic ----------------------------------------------------------------------
    def add(self, a, b, alpha: float = 1.0) -> Jet:
        a, b = self.lift(a), self.lift(b)
        if alpha != 1.0:
            b = self.scale(b, alpha)
        v = torch.minimum(a.v, b.v)
        top = torch.minimum(a.v + a.n, b.v + b.n)
        n = (top - v).clamp(0, self.N)
        c = self.shift(a.c, a.v - v) + self.shift(b.c, b.v - v)
        return Jet(self._mask(c, n), v, n, a.bad | b.bad)

    def neg(self, a: Jet) -> Jet:
        return Jet(-a.c, a.v, a.n, a.bad)

    def sub(self, a, b, alpha: float = 1.0) -> Jet:
        return self.add(a, b, -alpha)

    def scale(self, a: Jet, s: float) -> Jet:
        if s == 0:
            return self.constant(0.0)
        return Jet(a.c * s, a.v, a.n, a.bad)

    def mul(self, a, b) -> Jet:
        if not isinstance(a, Jet) and not isinstance(b, Jet):
            return self.constant(a * b)
        if not isinstance(b, Jet) and isinstance(b, (int, float)):
            return self.scale(a, float(b))
        if not isinstance(a, Jet) and isinstance(a, (int, float)):
            return self.scale(b, float(a))
        a, b = self.normalize(self.lift(a)), self.normalize(self.lift(b))
        n = torch.minimum(a.n, b.n)
        c = torch.stack([(a.c[:k + 1] * b.c[:k + 1].flip(0)).sum(0) for k in range(self.N)])
        return Jet(self._mask(c, n), a.v + b.v, n, a.bad | b.bad)

    def div(self, a, b) -> Jet:
        if not isinstance(b, Jet) and isinstance(b, (int, float)) and b != 0 and math.isfinite(b):
            return self.scale(self.lift(a), 1.0 / b)
        a, b = self.normalize(self.lift(a)), self.normalize(self.lift(b))
        bad = a.bad | b.bad
        b0 = torch.where(b.n > 0, b.c[0], 1.0)
        q = torch.empty_like(a.c)
        for k in range(self.N):  # q_k = (a_k - Σ_{j=1..k} b_j q_(k-j)) / b_0
            q[k] = (a.c[k] - (b.c[1:k + 1] * q[:k].flip(0)).sum(0)) / b0
        n = torch.minimum(a.n, b.n)  # b known to no order (n = 0): the quotient is unknown
        return Jet(self._mask(q, n), a.v - b.v, n, bad)

    def pow_int(self, a: Jet, p: int) -> Jet:
        if p < 0:
            return self.div(1.0, self.pow_int(a, -p))
        out, base = self.constant(1.0), a
        while p:
            if p & 1:
                out = self.mul(out, base)
            p >>= 1
            if p:
                base = self.mul(base, base)
        return out

    def pow(self, a, p) -> Jet:
        """``a ** p``: integer ``p`` by products (any centre, poles allowed); real ``p`` by the
        power recurrence where the centre is positive, a cut at 0, no series below 0; a jet ``p``
        as ``exp(p · log a)``."""
        if isinstance(p, Jet):
            if not isinstance(a, Jet):
                if isinstance(a, (int, float)) and a > 0:
                    return self.exp(self.scale(p, math.log(a)))
                a = self.lift(a)
            return self.exp(self.mul(p, self.log(a)))
        p = float(p)
        if p == int(p) and abs(p) <= 64:
            return self.pow_int(self.lift(a), int(p))
        c, n, pole = self.taylor(self.lift(a))
        a0 = c[0]
        pos = a0 > 0
        safe0 = torch.where(pos, a0, 1.0)
        y = torch.empty_like(c)
        y[0] = torch.pow(safe0, p)
        for k in range(1, self.N):  # y_k = Σ_{j<k} (p(k-j) - j) c_(k-j) y_j / (k c_0)
            j = self.k[:k, None].to(c.dtype)
            y[k] = ((p * (k - j) - j) * c[1:k + 1].flip(0) * y[:k]).sum(0) / (k * safe0)
        zero = (a0 == 0) & ~pole
        bad = self._bad(a) | pole | (a0 < 0)
        return self._from_taylor(y, n, bad, cut=zero, cut_inf=zero & (p < 1))

    def sqrt(self, a) -> Jet:
        return self.pow(a, 0.5)

    def reciprocal(self, a) -> Jet:
        return self.div(1.0, a)

    # ---- transcendental functions --------------------------------------------------------
    def _unary_input(self, a):
        a = self.lift(a)
        c, n, pole = self.taylor(a)
        return c, n, a.bad | pole

    def exp(self, a, minus_one: bool = False) -> Jet:
        c, n, bad = self._unary_input(a)
        y = torch.empty_like(c)
        y[0] = torch.exp(c[0])
        for k in range(1, self.N):
            y[k] = _dot(c, y, k) / k
        if minus_one:
            y[0] = torch.expm1(c[0])
        bad = bad | ~torch.isfinite(y[0])
        return self._from_taylor(y, n, bad)

    def expm1(self, a) -> Jet:
        return self.exp(a, minus_one=True)

    def log(self, a) -> Jet:
        c, n, bad = self._unary_input(a)
        a0 = c[0]
        safe0 = torch.where(a0 > 0, a0, 1.0)
        y = torch.zeros_like(c)
        y[0] = torch.log(safe0)
        for k in range(1, self.N):  # y_k = (c_k - (1/k) Σ_{j<k} j y_j c_(k-j)) / c_0
            y[k] = (c[k] - _dot(y, c, k) / k) / safe0  # (y_k itself is 0 in the sum yet)
        # log at 0 is -inf (no finite centre); below 0 NaN: no series either way
        return self._from_taylor(y, n, bad | (a0 <= 0))

    def _integrate(self, y0: torch.Tensor, a_c: torch.Tensor, h: Jet, n, bad) -> Jet:
        """``y`` with ``y(0) = y0`` and ``y' = h · a'``: ``y_k = (1/k) Σ_j j a_j h_(k-j)``."""
        hc, hn, hpole = self.taylor(h)
        y = torch.empty_like(a_c)
        y[0] = y0
        for k in range(1, self.N):
            y[k] = _dot(a_c, hc, k) / k
        return self._from_taylor(y, torch.minimum(n, hn), bad | h.bad | hpole)

    def log1p(self, a) -> Jet:
        c, n, bad = self._unary_input(a)
        a = self._from_taylor(c, n, bad)
        bad = bad | (c[0] <= -1)
        return self._integrate(torch.log1p(c[0].clamp(min=-1)), c, self.div(1.0, self.add(a, 1.0)),
                               n, bad)

    def sincos(self, a, hyperbolic: bool = False) -> tuple[Jet, Jet]:
        c, n, bad = self._unary_input(a)
        s, co = torch.empty_like(c), torch.empty_like(c)
        if hyperbolic:
            s[0], co[0] = torch.sinh(c[0]), torch.cosh(c[0])
        else:
            s[0], co[0] = torch.sin(c[0]), torch.cos(c[0])
        sign = 1.0 if hyperbolic else -1.0
        for k in range(1, self.N):
            s[k] = _dot(c, co, k) / k
            co[k] = sign * _dot(c, s, k) / k
        bad = bad | ~torch.isfinite(co[0])
        return self._from_taylor(s, n, bad), self._from_taylor(co, n, bad)

    def sin(self, a) -> Jet:
        return self.sincos(a)[0]

    def cos(self, a) -> Jet:
        return self.sincos(a)[1]

    def tan(self, a) -> Jet:
        s, co = self.sincos(a)
        return self.div(s, co)

    def sinh(self, a) -> Jet:
        return self.sincos(a, hyperbolic=True)[0]

    def cosh(self, a) -> Jet:
        return self.sincos(a, hyperbolic=True)[1]

    def _saturating(self, a, y0: torch.Tensor, w0: torch.Tensor, quad: Callable) -> Jet:
        """``y' = w(y) · a'`` with ``w`` quadratic in ``y`` (tanh: 1 - y², sigmoid: y - y²),
        given accurate centre values ``y0`` and ``w0``."""
        c, n, bad = self._unary_input(a)
        y, w = torch.empty_like(c), torch.empty_like(c)
        y[0], w[0] = y0, w0
        for k in range(1, self.N):
            y[k] = _dot(c, w, k) / k
            w[k] = quad(y, k)
        return self._from_taylor(y, n, bad)

    def tanh(self, a) -> Jet:
        c0 = self._unary_input(a)[0][0]
        y0 = torch.tanh(c0)
        w0 = 4 * torch.sigmoid(2 * c0) * torch.sigmoid(-2 * c0)
        return self._saturating(a, y0, w0, lambda y, k: -(y[:k + 1] * y[:k + 1].flip(0)).sum(0))

    def sigmoid(self, a) -> Jet:
        c0 = self._unary_input(a)[0][0]
        y0 = torch.sigmoid(c0)
        w0 = y0 * torch.sigmoid(-c0)
        return self._saturating(a, y0, w0,
                                lambda y, k: y[k] - (y[:k + 1] * y[:k + 1].flip(0)).sum(0))

    def _inverse_trig(self, a, y0_fn, h_fn, domain_bad, edge=None) -> Jet:
        """``y0_fn`` at the centre, ``y' = h(a) a'`` elsewhere; ``edge(x0)`` marks the ends of the
        domain where the function is continuous with an infinite derivative (asin at ±1,
        acosh at 1): a cut."""
        c, n, bad = self._unary_input(a)
        x0 = c[0]
        at_edge = edge(x0) & ~bad if edge is not None else self._false
        a = self._from_taylor(c, n, bad | at_edge)
        bad = bad | (domain_bad(x0) & ~at_edge)
        y0 = y0_fn(x0)
        out = self._integrate(y0, c, h_fn(a), n, bad)
        # at an edge only the centre value is meaningful (the cut variable takes over there)
        coeffs = torch.where(at_edge[None, :] & (self.k[:, None] == 0), y0, out.c)
        n = torch.where(at_edge, torch.clamp(out.n, min=1), out.n)
        return Jet(coeffs, out.v, n, out.bad & ~at_edge, at_edge, at_edge)

    def atan(self, a) -> Jet:
        return self._inverse_trig(a, torch.atan, lambda a: self.div(1.0, self.add(
            self.mul(a, a), 1.0)), lambda x: torch.zeros_like(x, dtype=torch.bool))

    def asin(self, a, sign: float = 1.0) -> Jet:
        y0 = torch.asin if sign > 0 else torch.acos
        return self._inverse_trig(a, lambda x: y0(x.clamp(-1, 1)), lambda a: self.scale(
            self.pow(self.sub(1.0, self.mul(a, a)), -0.5), sign), lambda x: x.abs() > 1,
            edge=lambda x: x.abs() == 1)

    def acos(self, a) -> Jet:
        return self.asin(a, sign=-1.0)

    def asinh(self, a) -> Jet:
        return self._inverse_trig(a, torch.asinh, lambda a: self.pow(self.add(
            self.mul(a, a), 1.0), -0.5), lambda x: torch.zeros_like(x, dtype=torch.bool))

    def acosh(self, a) -> Jet:
        return self._inverse_trig(a, lambda x: torch.acosh(x.clamp(min=1)), lambda a: self.pow(
            self.sub(self.mul(a, a), 1.0), -0.5), lambda x: x < 1, edge=lambda x: x == 1)

    def atanh(self, a) -> Jet:
        return self._inverse_trig(a, lambda x: torch.atanh(x.clamp(-1, 1)), lambda a: self.div(
            1.0, self.sub(1.0, self.mul(a, a))), lambda x: x.abs() >= 1)

    def erf(self, a, complement: bool = False) -> Jet:
        def y0(x):
            return torch.erfc(x) if complement else torch.erf(x)
        s = -_TWO_OVER_SQRT_PI if complement else _TWO_OVER_SQRT_PI
        return self._inverse_trig(a, y0, lambda a: self.scale(self.exp(self.neg(self.mul(a, a))), s),
                                  lambda x: torch.zeros_like(x, dtype=torch.bool))

    def erfc(self, a) -> Jet:
        return self.erf(a, complement=True)

    def softplus(self, a, beta: float = 1.0, threshold: float = 20.0) -> Jet:
        a = self.lift(a)
        c, n, bad = self._unary_input(a)
        bx = c[0] * beta
        y0 = torch.where(bx > threshold, c[0], torch.log1p(torch.exp(bx.clamp(max=threshold)))
                         / beta)
        jet = self._integrate(y0, c, self.sigmoid(self.scale(self._from_taylor(c, n, bad), beta)),
                              n, bad)
        return self.select(bx > threshold, self._from_taylor(c, n, bad), jet)

    def atan2(self, y, x) -> Jet:
        """atan2 with the centre's branch; the origin (a jump) has no series."""
        y, x = self.lift(y), self.lift(x)
        yc, yn, ybad = self._unary_input(y)
        xc, xn, xbad = self._unary_input(x)
        n = torch.minimum(yn, xn)
        yj, xj = self._from_taylor(yc, n, ybad), self._from_taylor(xc, n, xbad)
        # θ' = (x y' - y x') / (x² + y²), integrated from θ(0) = atan2(y0, x0)
        num = self.sub(self.mul(xj, self.deriv(yj)), self.mul(yj, self.deriv(xj)))
        den = self.add(self.mul(xj, xj), self.mul(yj, yj))
        rate, rn, rpole = self.taylor(self.div(num, den))
        out = [torch.atan2(yc[0], xc[0])] + [rate[k - 1] / k for k in range(1, self.N)]
        origin = (yc[0] == 0) & (xc[0] == 0)
        bad = ybad | xbad | rpole | origin
        return self._from_taylor(torch.stack(out), torch.minimum(n, rn + 1), bad)

    def deriv(self, a: Jet) -> Jet:
        """``a'(t)`` of a Taylor series (valuation 0)."""
        c, n, pole = self.taylor(a)
        d = torch.cat([c[1:] * self.k[1:, None].to(c.dtype), torch.zeros_like(c[:1])])
        return self._from_taylor(d, (n - 1).clamp(min=0), a.bad | pole)

    # ---- piecewise operations (analytic away from their switch points) ---------------------
    def select(self, cond: torch.Tensor, a, b) -> Jet:
        """``a`` where ``cond`` else ``b`` (a fixed boolean per element)."""
        a, b = self.lift(a), self.lift(b)
        top = torch.where(cond, a.v + a.n, b.v + b.n)
        v = torch.where(cond, a.v, b.v)
        c = torch.where(cond[None, :], a.c, b.c)
        return Jet(c, v, (top - v).clamp(0, self.N), torch.where(cond, a.bad, b.bad))

    def _unknown_to(self, out: Jet, *inputs) -> Jet:
        """``out`` unknown wherever an input is (a switch decided on an unknown value)."""
        unknown = self._false
        for a in inputs:
            if isinstance(a, Jet):
                unknown = unknown | a.unknown
        n = torch.where(unknown, 0, out.n)
        return Jet(out.c, torch.where(unknown, 0, out.v), n, out.bad, out.cut, out.cut_inf)

    def _cut_where(self, a: Jet, at: torch.Tensor, inf: bool = False) -> Jet:
        cut = at if a.cut is None else (a.cut | at)
        cut_inf = (at & inf) if a.cut_inf is None else (a.cut_inf | (at & inf))
        return Jet(a.c, a.v, a.n, a.bad, cut, cut_inf)

    def abs(self, a) -> Jet:
        a = self.lift(a)
        x0 = a.value
        return self._cut_where(self.select(x0 >= 0, a, self.neg(a)), x0 == 0)

    def relu(self, a) -> Jet:
        a = self.lift(a)
        x0 = a.value
        return self._cut_where(self._unknown_to(self.select(x0 > 0, a, self.constant(0.0)), a),
                               x0 == 0)

    def leaky_relu(self, a, slope: float) -> Jet:
        a = self.lift(a)
        x0 = a.value
        return self._cut_where(self.select(x0 > 0, a, self.scale(a, slope)), x0 == 0)

    def elu(self, a, alpha: float = 1.0) -> Jet:
        a = self.lift(a)
        x0 = a.value
        return self._cut_where(self.select(x0 > 0, a, self.scale(self.expm1(a), alpha)), x0 == 0)

    def step(self, a, fn: Callable[[torch.Tensor], torch.Tensor], jump) -> Jet:
        """A piecewise constant function (sign, floor, ...): its value, no series at a jump."""
        a = self.lift(a)
        x0 = a.value
        out = self.constant(fn(torch.where(a.bad | a.unknown, 0.0, x0)))
        out = Jet(out.c, out.v, out.n, out.bad | a.bad | jump(x0))
        return self._unknown_to(out, a)

    def maximum(self, a, b, smaller: bool = False) -> Jet:
        a, b = self.lift(a), self.lift(b)
        x, y = a.value, b.value
        first = (x < y) if smaller else (x > y)
        return self._cut_where(self._unknown_to(self.select(first, a, b), a, b), x == y)

    def clamp(self, a, lo=None, hi=None) -> Jet:
        out = self.lift(a)
        if lo is not None:
            out = self.maximum(out, lo)
        if hi is not None:
            out = self.maximum(out, hi, smaller=True)
        return out

    def where(self, cond: Bools, a, b) -> Jet:
        a, b = self.lift(a), self.lift(b)
        out = self.select(cond.value, a, b)
        tie = cond.ambiguous
        same = a.value == b.value
        out = Jet(out.c, out.v, out.n, out.bad | (tie & ~same), out.cut, out.cut_inf)
        return self._cut_where(out, tie & same)

    def compare(self, a, b, op: Callable) -> Bools:
        x = a.value if isinstance(a, Jet) else a
        y = b.value if isinstance(b, Jet) else b
        value = op(x, y)
        if not isinstance(value, torch.Tensor):
            value = torch.full((self.L,), bool(value), device=self.device)
        tie = x == y
        if not isinstance(tie, torch.Tensor):
            tie = torch.full((self.L,), bool(tie), device=self.device)
        for z in (x, y):  # an unknown value (NaN here) may compare either way
            if isinstance(z, torch.Tensor):
                tie = tie | torch.isnan(z)
        return Bools(value.expand(self.L), tie.expand(self.L))

    def hypot(self, a, b) -> Jet:
        a, b = self.lift(a), self.lift(b)
        r = self.sqrt(self.add(self.mul(a, a), self.mul(b, b)))
        # at the origin hypot is a cone: continuous with a bounded (convention: 0) gradient
        return Jet(r.c, r.v, r.n, r.bad, r.cut, None)

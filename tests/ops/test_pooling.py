"""LP and power-mean pooling against a 50-digit mpmath reference at adversarial windows.

Each case is one window (a 1-d pooling whose kernel is the whole input), so the reference is
the plain formula: y, dy/dx_i and dy/dp computed in closed form with mpmath. The contract's
conventions where the formula has no value: x_i = 0 → dy/dx_i = 0; an all-zero window → 0 for
x and p.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

from netgrad.ops import lp_pool1d, power_mean_pool1d

mpmath.mp.dps = 50

WINDOWS = {
    "all zero": [0.0, 0.0, 0.0, 0.0],
    "one non-zero": [0.0, -2.5, 0.0, 0.0],
    "one non-zero tiny": [0.0, 0.0, 3e-30, 0.0],
    "ties": [2.0, -2.0, 1.0, 2.0],
    "tiny": [1e-30, -3e-30, 2e-30, 5e-31],
    "huge": [1e30, -3e30, 2e30, 5e29],
    "mixed scales": [1e30, 1.0, 0.0, -1e-30],
    "ordinary": [0.3, -1.7, 2.2, 0.9],
    "near equal": [1.0, 1.0 + 2 ** -10, 1.0 - 2 ** -9, 1.0],
    "with zero": [0.5, 0.0, -1.5, 2.0],
}
LP_P = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 7.5, 30.0, 100.0, 1000.0]
PM_P = [0.0, 1e-3, 1e-2, 0.5, 1.0, 3.0, 30.0, 100.0]


def reference(xs, p, mean):
    """(y, dy/dx, dy/dp) as mpf, by the closed forms, with the contract's conventions."""
    a = [abs(mpmath.mpf(v)) for v in xs]
    n = len(a)
    p = mpmath.mpf(p)
    if all(v == 0 for v in a):
        return mpmath.mpf(0), [mpmath.mpf(0)] * n, mpmath.mpf(0)
    nz = [v for v in a if v > 0]
    if mean and p == 0:
        if len(nz) < n:
            return mpmath.mpf(0), [mpmath.mpf(0)] * n, mpmath.mpf(0)
        logs = [mpmath.log(v) for v in a]
        mu = sum(logs) / n
        y = mpmath.exp(mu)
        var = sum((lv - mu) ** 2 for lv in logs) / n
        dx = [mpmath.sign(x) * y / (n * v) for x, v in zip(xs, a)]
        return y, dx, y * var / 2
    s = sum(v ** p for v in nz)
    c = mpmath.mpf(1) / n if mean else mpmath.mpf(1)
    y = (c * s) ** (1 / p)
    dx = [mpmath.sign(x) * c * (v / y) ** (p - 1) if v > 0 else mpmath.mpf(0)
          for x, v in zip(xs, a)]
    sl = sum(v ** p * mpmath.log(v) for v in nz)
    dp = y * (sl / (p * s) - mpmath.log(c * s) / p ** 2)
    return y, dx, dp


def _run(xs, p, mean, dtype, g=1.0):
    x = torch.tensor(xs, dtype=dtype).reshape(1, 1, -1).requires_grad_()
    pt = torch.tensor(p, dtype=dtype, requires_grad=True)
    fn = power_mean_pool1d if mean else lp_pool1d
    y = fn(x, pt, len(xs))
    gx, gp = torch.autograd.grad(y, (x, pt), torch.full_like(y, g))
    return y.item(), gx.flatten().tolist(), gp.item()


def _representable(v, dtype):
    return abs(v) <= torch.finfo(dtype).max


def _close(got, want, rtol, atol_scale=0.0):
    want_f = float(want)
    if not math.isfinite(want_f):
        return got == want_f
    tiny = 1e-300 if atol_scale == 0 else atol_scale
    return abs(got - want_f) <= rtol * abs(want_f) + tiny * rtol


CASES = [(name, p, mean) for mean, ps in ((False, LP_P), (True, PM_P))
         for name in WINDOWS for p in ps]


def _ids(case):
    name, p, mean = case
    return f"{'pm' if mean else 'lp'}-{name}-p{p}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_float64_matches_mpmath(case):
    name, p, mean = case
    xs = WINDOWS[name]
    y_ref, dx_ref, dp_ref = reference(xs, p, mean)
    if not _representable(y_ref, torch.float64):
        pytest.skip("true value overflows float64")
    y, dx, dp = _run(xs, p, mean, torch.float64)
    # dy/dp of the power mean at small p is a difference of O(1) terms that is O(p) (see the
    # module docstring of netgrad.ops._pooling): its float error is about eps·max|log a|/p.
    spread = max((abs(math.log(abs(v))) for v in xs if v != 0), default=0.0) + 1
    dp_tol = 1e-12 * (1 + (spread / max(p, 1e-3) if mean else spread))
    assert _close(y, y_ref, 1e-13), (y, y_ref)
    for got, want in zip(dx, dx_ref):
        assert _close(got, want, 1e-12, atol_scale=max(abs(float(w)) for w in dx_ref)), (dx, dx_ref)
    # dy/dp is held to eps·y (its natural scale y/p·log): see "Known accuracy limits" in
    # netgrad/ops/_pooling.py for the windows where it is not relatively exact.
    assert _close(dp, dp_ref, dp_tol, atol_scale=abs(float(y_ref)) + 1e-300), (dp, dp_ref)


def _amplification(xs, p, y_ref):
    """How much a float result may lose to the exponent: y = m e^z and dy/dx = c e^{(p-1) D}
    are exponentials, so representing z or D to working precision costs |z|·eps (or |(p-1)D|)."""
    nz = [abs(v) for v in xs if v != 0]
    if not nz or y_ref == 0:
        return 2.0
    m = max(nz)
    z = abs(float(mpmath.log(y_ref / m)))
    d = max(abs(float((p - 1) * mpmath.log(mpmath.mpf(v) / y_ref))) for v in nz)
    return 2.0 + z + d


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_float32_matches_mpmath(case):
    name, p, mean = case
    xs = WINDOWS[name]
    y_ref, dx_ref, dp_ref = reference(xs, p, mean)
    f32 = torch.float32
    eps, tiny = torch.finfo(f32).eps, torch.finfo(f32).tiny  # below tiny: underflow is allowed
    amp = _amplification(xs, p, y_ref)
    y, dx, dp = _run(xs, p, mean, f32)
    if _representable(y_ref, f32):
        assert math.isfinite(y), "float32 result must be finite when the true value is"
        assert abs(y - float(y_ref)) <= 8 * eps * amp * abs(float(y_ref)) + tiny, (y, y_ref)
    for got, want in zip(dx, dx_ref):
        if _representable(want, f32):
            scale = max(abs(float(w)) for w in dx_ref if _representable(w, f32))
            assert math.isfinite(got)
            assert abs(got - float(want)) <= 8 * eps * amp * (abs(float(want)) + 1e-6 * scale) \
                + tiny, (dx, dx_ref)
    if _representable(dp_ref, f32) and _representable(y_ref, f32):
        spread = max((abs(math.log(abs(v))) for v in xs if v != 0), default=0.0) + 1
        small_p = spread / max(p, 1e-3) if mean else spread
        assert math.isfinite(dp)
        assert abs(dp - float(dp_ref)) <= 8 * eps * (amp + small_p) * (
            abs(float(dp_ref)) + abs(float(y_ref))) + tiny, (dp, dp_ref)


@pytest.mark.parametrize("mean", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.3, 1.0, 2.0, 50.0])
def test_zero_incoming_gradient_is_a_hard_zero(mean, dtype, p):
    # p < 1 with a tiny element next to a huge one: (a_i/y)^(p-1) overflows; g = 0 must win.
    xs = [1e-30, 1e30, 0.0, 1.0] if dtype == torch.float32 else [1e-300, 1e300, 0.0, 1.0]
    _, dx, dp = _run(xs, p, mean, dtype, g=0.0)
    assert dx == [0.0] * 4 and dp == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_p_is_the_max_with_ties_split(dtype):
    xs = [2.0, -2.0, 1.0, 2.0]
    for p in (1e4, 1e6):
        y, dx, dp = _run(xs, p, False, dtype)
        assert y == pytest.approx(2.0, rel=2e-4)
        assert dx == pytest.approx([1 / 3, -1 / 3, 0.0, 1 / 3], rel=1e-3, abs=1e-30)
        assert abs(dp) < 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_p_one_is_exactly_the_total(dtype):
    x = torch.tensor([[[0.5, -1.5, 0.0, 2.0, -3.0, 0.25]]], dtype=dtype, requires_grad=True)
    y = lp_pool1d(x, torch.tensor(1.0, dtype=dtype), 3)
    assert torch.allclose(y, torch.tensor([[[2.0, 5.25]]], dtype=dtype), rtol=2 * torch.finfo(dtype).eps)
    (gx,) = torch.autograd.grad(y.sum(), x)
    assert gx.flatten().tolist() == [1.0, -1.0, 0.0, 1.0, -1.0, 1.0]


@pytest.mark.parametrize("spatial, kernel, stride, padding, ceil", [
    ((7,), 3, 2, 1, False), ((7,), 3, 2, 1, True), ((6, 5), (3, 2), (1, 2), (1, 0), False),
    ((5, 6), 2, 3, 0, True), ((4, 5, 3), (2, 3, 2), (2, 1, 1), (1, 1, 0), True)])
def test_functional_fold_is_the_adjoint_of_the_view(spatial, kernel, stride, padding, ceil):
    from netgrad.ops._pool_windows import _Windows

    win = _Windows(spatial, kernel, stride, padding, ceil, "test")
    x = torch.randn((2, 3) + spatial, dtype=torch.float64)
    gw = torch.randn(win.view(x).shape, dtype=torch.float64)
    want = win.fold(gw, x.shape)
    got = win.fold(gw, x.shape, functional=True)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # <view(x), gw> = <x, fold(gw)>
    torch.testing.assert_close((win.view(x) * gw).sum(), (x * got).sum())

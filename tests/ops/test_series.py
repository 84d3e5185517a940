"""Removable singularities: the series engine against mpmath (50 digits), in float32 and
float64, as plain torch code under robust() and as ElementwiseLayer functions."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

import netgrad
from netgrad import ElementwiseLayer, NetPortGradient, NonFiniteError, ThreadingLayer
from netgrad.ops import _limits

mpmath.mp.dps = 50

FORMULAS = {
    "sin(x)/x": (lambda x: torch.sin(x) / x, lambda x: mpmath.sin(x) / x),
    "(1 - cos x)/x^2": (lambda x: (1 - torch.cos(x)) / x ** 2,
                        lambda x: (1 - mpmath.cos(x)) / x ** 2),
    "x/(e^x - 1)": (lambda x: x / (torch.exp(x) - 1), lambda x: x / (mpmath.exp(x) - 1)),
    "log1p(x)/x": (lambda x: torch.log1p(x) / x, lambda x: mpmath.log1p(x) / x),
    "(e^x - 1)/x": (lambda x: (torch.exp(x) - 1) / x, lambda x: (mpmath.exp(x) - 1) / x),
}
TOL = {torch.float64: 4e-15, torch.float32: 4e-7}


def _reference(f, x: float) -> list[float]:
    """Value, f', f'' at x with 50 digits (at 0, one-sided differences that never evaluate 0/0:
    the step is small enough that the limit is exact to far below float64 rounding)."""
    with mpmath.workdps(80):
        if x == 0:
            h = mpmath.mpf("1e-15")
            return [float(mpmath.diff(f, 0, n, singular=True, h=h)) for n in range(3)]
        xm = mpmath.mpf(x)
        return [float(f(xm))] + [float(mpmath.diff(f, xm, n)) for n in (1, 2)]


def _derivatives(f, x: torch.Tensor) -> list[float]:
    x = x.detach().requires_grad_(True)
    y = f(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    return [_v(y), _v(g), _v(h)]


def _v(t: torch.Tensor) -> float:
    return float(t.detach().reshape(-1)[0])


def _robust_code(f):
    def run(x):
        with netgrad.robust():  # the user's block: nothing more to ask for
            return f(x)
    return run


def _layer(f):
    layer = ElementwiseLayer(f)
    return lambda x: layer.forward(x)


def _close(got, want, tol):
    for k, (a, b) in enumerate(zip(got, want)):
        assert math.isfinite(a), (k, got, want)
        assert abs(a - b) <= tol * max(abs(b), 1.0), (k, got, want)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("path", ["robust", "layer"])
@pytest.mark.parametrize("point", [0.0, 1e-3, -1e-3])
@pytest.mark.parametrize("name", list(FORMULAS))
def test_value_and_two_derivatives_match_mpmath(name, point, path, dtype):
    f, fm = FORMULAS[name]
    run = _robust_code(f) if path == "robust" else _layer(f)
    x = torch.tensor([point, 0.7], dtype=dtype)
    got = _derivatives(run, x)
    want = _reference(fm, float(x[0]))
    _close(got, want, TOL[dtype])


@pytest.mark.parametrize("name", list(FORMULAS))
def test_regular_points_keep_their_values(name):
    """Away from the singular point nothing changes: the same values and gradients as robust()
    alone, bit for bit."""
    f = FORMULAS[name][0]
    x = torch.linspace(0.2, 3.0, 7, dtype=torch.float64)
    with netgrad.robust():
        base = _derivatives(lambda v: f(v).sum().reshape(1), x)
    got = _derivatives(lambda v: _robust_code(f)(v).sum().reshape(1), x)
    assert got == base


def test_layer_that_raised_now_gives_the_limit():
    layer = ElementwiseLayer(lambda v: torch.sin(v) / v)
    assert layer([0.0, math.pi]).tolist() == pytest.approx([1.0, 0.0], abs=1e-7)
    assert layer([0.0], NetPortGradient("Input")).tolist() == [0.0]


def test_cancelling_formula_near_zero_is_the_series():
    """The issue's example: (1 - cos x)/x² at 1e-8 was 0 with gradient 1e8."""
    layer = ElementwiseLayer(lambda v: (1 - torch.cos(v)) / v ** 2)
    for dtype in ("float32", "float64"):
        assert layer([1e-8], precision=dtype)[0] == pytest.approx(0.5, rel=1e-7)
        g = layer([1e-8], NetPortGradient("Input"), precision=dtype)[0]
        assert abs(g - (-1e-8 / 12)) < 1e-12


@pytest.mark.parametrize("f, why", [
    (lambda x: x / x ** 2, "odd pole: +inf from the right, -inf from the left"),
    (lambda x: torch.abs(x) / x, "sign-dependent limit"),
    (lambda x: torch.relu(x) / x, "one-sided limits 1 and 0"),
    (lambda x: torch.sign(x) * x / x, "a jump at 0"),
    (lambda x: x / 0.0 * 0.0, "0/0 with no recipe to resolve it"),
])
def test_no_limit_stays_nan(f, why):
    x = torch.tensor([0.0, 2.0], dtype=torch.float64)
    y = _robust_code(f)(x)
    assert math.isnan(_v(y)), why
    assert math.isfinite(y[1])


def test_no_limit_is_reported_by_the_provenance():
    layer = ElementwiseLayer(lambda v: torch.abs(v) / v)
    with pytest.raises(NonFiniteError) as e:
        layer([0.0, 1.0])
    assert "0/0" in str(e.value)


def test_even_pole_is_a_true_infinity_with_no_made_up_gradient():
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    y = _robust_code(lambda v: v / v ** 3)(x)
    assert y[0] == math.inf
    (g,) = torch.autograd.grad(y.sum(), x)
    assert math.isnan(g[0])


def test_poles_that_cancel():
    """inf - inf and 0·inf: 1/x - 1/sin x → 0 (slope -1/6); x·(1/x) → 1."""
    got = _derivatives(_robust_code(lambda v: 1 / v - 1 / torch.sin(v)),
                       torch.tensor([0.0], dtype=torch.float64))
    _close(got, [0.0, -1 / 6, 0.0], 1e-14)
    got = _derivatives(_robust_code(lambda v: v * (1 / v)), torch.tensor([0.0],
                                                                          dtype=torch.float64))
    _close(got, [1.0, 0.0, 0.0], 1e-14)


def test_higher_orders_than_the_patch_are_nan_not_zero():
    """The patch at a singular point is a polynomial of degree 4 (one variable): its fifth
    derivative is unknown, and says so."""
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    with _limits.recording(True, near=False), netgrad.robust(), _limits.limits():
        y = (torch.exp(x) - 1) / x     # the exact-point patch alone
    d = y.sum()
    for k in range(1, 6):
        (d,) = torch.autograd.grad(d, x, create_graph=True)
        want = 1 / (k + 1)  # (eˣ - 1)/x = Σ xⁿ/(n+1)!: f⁽ᵏ⁾(0) = 1/(k+1)
        if k <= 4:
            assert _v(d) == pytest.approx(want, rel=1e-13), k
        else:
            assert math.isnan(_v(d)), k
        d = d.sum()


def test_two_variables_log_mean():
    """(x - y)/(log x - log y) at x = y = a: value a, gradient (½, ½), Hessian
    [[-1, 1], [1, -1]]/(6a), against mpmath at a point a hair off the diagonal."""
    a = 2.0
    layer = ThreadingLayer(lambda u, v: (u - v) / (torch.log(u) - torch.log(v)))
    x = torch.tensor([a], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([a], dtype=torch.float64, requires_grad=True)
    out = layer.forward(x, y)
    gx, gy = torch.autograd.grad(out.sum(), (x, y), create_graph=True)
    hxx, hxy = torch.autograd.grad(gx.sum(), (x, y), retain_graph=True)
    (hyy,) = torch.autograd.grad(gy.sum(), (y,))

    def lm(u, v):
        return (u - v) / (mpmath.log(u) - mpmath.log(v))
    am, bm = mpmath.mpf(a) + mpmath.mpf("1e-25"), mpmath.mpf(a)
    want = [lm(am, bm), mpmath.diff(lm, (am, bm), (1, 0)), mpmath.diff(lm, (am, bm), (0, 1)),
            mpmath.diff(lm, (am, bm), (2, 0)), mpmath.diff(lm, (am, bm), (1, 1)),
            mpmath.diff(lm, (am, bm), (0, 2))]
    got = [out, gx, gy, hxx, hxy, hyy]
    for g, w in zip(got, want):
        assert _v(g) == pytest.approx(float(w), rel=1e-8, abs=1e-10)


def test_direction_dependent_limit_stays_nan():
    x, y = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    with netgrad.robust(), _limits.limits():
        a = x * y / (x * x + y * y)          # no limit at (0, 0)
        b = (x * x - y * y) / (x - y)        # = x + y: limit 0
        c = x * x / (x * x + x * x)          # one variable: 1/2
    assert math.isnan(a[0]) and b[0] == 0 and c[0] == 0.5


def test_parameters_inside_the_formula():
    """sin(a·x)/x at x = 0 is a, and d/da is 1, d/dx is 0."""
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        y = torch.sin(a * x) / x
    ga, gx = torch.autograd.grad(y.sum(), (a, x))
    assert _v(y) == 2.0 and _v(ga) == pytest.approx(1.0, abs=1e-12)
    assert abs(_v(gx)) < 1e-12


def test_broadcasting_and_views_inside_the_formula():
    w = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    t = torch.tensor([[0.0], [1.0]], dtype=torch.float64, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        u = (t * w)[..., None].squeeze(-1)      # (2, 3) with zeros at [0, :] and [1, 1]
        y = torch.sin(u) / u
    assert torch.equal(torch.isnan(y), torch.zeros(2, 3, dtype=torch.bool))
    assert y[0].tolist() == [1.0, 1.0, 1.0] and y[1, 1] == 1.0
    (g,) = torch.autograd.grad(y.sum(), t)
    with netgrad.robust():
        want = torch.cos(w[[0, 2]]) / w[[0, 2]] - torch.sin(w[[0, 2]]) / w[[0, 2]] ** 2
    assert float(g[0]) == 0.0
    assert float(g[1]) == pytest.approx(float((want * w[[0, 2]]).sum()), rel=1e-12)


def test_modified_in_place_is_never_patched_with_stale_values():
    x = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with netgrad.robust(), _limits.limits():
        s = torch.sin(x)
        s.mul_(2.0)           # the recipe of s is stale: s is a leaf from here on
        y = s / x             # s and x are then two variables: no limit is claimed
    assert math.isnan(y[0])


def test_torch_func_grad_and_hessian():
    f = FORMULAS["(1 - cos x)/x^2"][0]

    def total(x):
        with netgrad.robust():  # the user's block: nothing more to ask for
            return f(x).sum()
    x = torch.tensor([0.0, 1.0], dtype=torch.float64)
    g = torch.func.grad(total)(x)
    h = torch.func.hessian(total)(x)
    assert g[0] == 0 and float(h[0, 0]) == pytest.approx(-1 / 12, rel=1e-14)
    with netgrad.robust():
        x1 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
        (g1,) = torch.autograd.grad(f(x1).sum(), x1)
    assert float(g[1]) == pytest.approx(float(g1), rel=1e-14)


def test_taylor_coefficients():
    c = netgrad.ops.taylor(lambda x: x / torch.expm1(x), torch.zeros(1, dtype=torch.float64), 6)
    bernoulli = [1, -1 / 2, 1 / 12, 0, -1 / 720, 0, 1 / 30240]
    assert c[:, 0].tolist() == pytest.approx(bernoulli, rel=1e-13, abs=1e-17)
    assert torch.isnan(netgrad.ops.taylor(lambda x: 1 / x, torch.zeros(1), 2)).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_removable_is_branch_free_under_compile_and_vmap(dtype):
    f = netgrad.ops.removable(lambda x: (1 - torch.cos(x)) / x ** 2)
    x = torch.tensor([0.0, 1e-8, 1e-3, 0.5, 3.0], dtype=dtype)
    want = [float((1 - mpmath.cos(mpmath.mpf(float(v)))) / mpmath.mpf(float(v)) ** 2)
            if v else 0.5 for v in x]
    eager = f(x)
    assert eager.tolist() == pytest.approx(want, rel=TOL[dtype])
    torch.testing.assert_close(torch.func.vmap(f)(x), eager, rtol=0, atol=0)
    compiled = torch.compile(f, fullgraph=True)(x)
    torch.testing.assert_close(compiled, eager, rtol=4 * TOL[dtype], atol=0)
    g = torch.func.grad(lambda v: f(v).sum())(x)
    assert g[2].item() == pytest.approx(-1e-3 / 12, rel=1e-5)

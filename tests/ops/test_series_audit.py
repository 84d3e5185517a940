"""Issue 16's list, item by item, where tests/ops/test_series.py leaves a gap: the SO(3)
factor t/(2 sin t) against mpmath, every formula through ThreadingLayer and FunctionLayer, and
the textbook SO(3) exponential and logarithm (no branches) at the identity against the
analytic derivatives."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

import netgrad
from netgrad import FunctionLayer, ThreadingLayer
from netgrad.ops import _limits

from test_series import FORMULAS, TOL, _close, _derivatives, _layer, _reference, _robust_code

mpmath.mp.dps = 50

SO3 = {
    "sin t/t": (lambda t: torch.sin(t) / t, lambda t: mpmath.sin(t) / t),
    "(1 - cos t)/t^2": (lambda t: (1 - torch.cos(t)) / t ** 2,
                        lambda t: (1 - mpmath.cos(t)) / t ** 2),
    "t/(2 sin t)": (lambda t: t / (2 * torch.sin(t)), lambda t: t / (2 * mpmath.sin(t))),
}
ALL = {**FORMULAS, **SO3}


def _threading(f):
    layer = ThreadingLayer(lambda a: f(a))
    return lambda x: layer.forward(x)


def _function(f):
    layer = FunctionLayer(lambda x: f(x))
    return lambda x: layer.forward(x)


PATHS = {"robust": _robust_code, "elementwise": _layer, "threading": _threading,
         "function": _function}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("point", [0.0, 1e-3])
@pytest.mark.parametrize("name", list(ALL))
def test_every_formula_on_every_path_matches_mpmath(name, point, path, dtype):
    f, fm = ALL[name]
    x = torch.tensor([point, 0.7], dtype=dtype)
    got = _derivatives(PATHS[path](f), x)
    _close(got, _reference(fm, float(x[0])), TOL[dtype])


def _hat(w):
    z = torch.zeros_like(w[..., 0])
    return torch.stack([z, -w[..., 2], w[..., 1], w[..., 2], z, -w[..., 0],
                        -w[..., 1], w[..., 0], z], -1).reshape(*w.shape[:-1], 3, 3)


def _vee(m):
    return torch.stack([m[..., 2, 1], m[..., 0, 2], m[..., 1, 0]], -1)


def so3_exp(w):
    """Rodrigues' formula as in a textbook: no branch for small angles."""
    t = torch.linalg.norm(w, dim=-1, keepdim=True)[..., None]
    k = _hat(w)
    eye = torch.eye(3, dtype=w.dtype)
    return eye + torch.sin(t) / t * k + (1 - torch.cos(t)) / t ** 2 * (k @ k)


def so3_log(r):
    """The textbook logarithm: θ = acos((tr R - 1)/2), ω = θ/(2 sin θ)·vee(R - Rᵀ)."""
    t = torch.acos((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2)[..., None]
    return t / (2 * torch.sin(t)) * _vee(r - r.transpose(-1, -2))


def _jacobian(y, x):
    flat = y.reshape(-1)
    return torch.stack([torch.autograd.grad(flat[k], x, retain_graph=True)[0]
                        for k in range(flat.numel())]).reshape(*y.shape, *x.shape)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_so3_exp_at_the_identity(dtype):
    """exp(0) = I and ∂exp/∂ωᵢ at 0 = hat(eᵢ) (the generators), exactly."""
    w = torch.zeros(3, dtype=dtype, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        r = so3_exp(w)
        jac = _jacobian(r, w)
    assert torch.equal(r.detach(), torch.eye(3, dtype=dtype))
    for i in range(3):
        assert torch.equal(jac[..., i], _hat(torch.eye(3, dtype=dtype)[i])), i


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_so3_log_at_the_identity(dtype):
    """log(exp(ω)) = ω: its Jacobian at 0 is I; and ∂log/∂R at I off the diagonal is the
    analytic ±1/2 (ω = vee(R - Rᵀ)/2 to first order)."""
    w = torch.zeros(3, dtype=dtype, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        om = so3_log(so3_exp(w))
        jac = _jacobian(om, w)
    assert torch.equal(om.detach(), torch.zeros(3, dtype=dtype))
    assert torch.equal(jac, torch.eye(3, dtype=dtype))
    r = torch.eye(3, dtype=dtype, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        jr = _jacobian(so3_log(r), r)
    want = torch.stack([_hat(torch.eye(3, dtype=dtype)[i]) / 2 for i in range(3)])
    off = ~torch.eye(3, dtype=torch.bool)
    assert torch.equal(jr[:, off], want[:, off])


def test_so3_exp_near_the_identity_matches_mpmath():
    """At |ω| = 1e-3 (a regular point, where the textbook formula cancels in float32) the
    rotation and its derivative agree with mpmath."""
    w0 = [1e-3, -2e-3, 5e-4]
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    with netgrad.robust(), _limits.limits():
        r = so3_exp(w)
    with mpmath.workdps(50):
        k = mpmath.matrix([[0, -w0[2], w0[1]], [w0[2], 0, -w0[0]], [-w0[1], w0[0], 0]])
        want = mpmath.expm(k)
    for i in range(3):
        for j in range(3):
            assert float(r[i, j].detach()) == pytest.approx(float(want[i, j]), rel=4e-15, abs=1e-18)
    assert all(math.isfinite(v) for v in _jacobian(r, w).reshape(-1).tolist())


def test_one_over_x_at_zero_is_a_true_infinity():
    """1/x at ±0 has no limit: it stays ±inf (IEEE), the series engine makes nothing up."""
    x = torch.tensor([0.0, -0.0, 2.0], dtype=torch.float64)
    y = _robust_code(lambda v: 1 / v)(x)
    assert y.tolist() == [math.inf, -math.inf, 0.5]

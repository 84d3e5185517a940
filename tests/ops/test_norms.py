"""norm, power_mean, geometric_mean, var, std, normalize, cosine_similarity."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from _ops_testing import INF, assert_same, grad_of

F64, F32 = torch.float64, torch.float32


def _x(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("f", [
    lambda x: ops.norm(x, 2, 1), lambda x: ops.norm(x, 1, 1), lambda x: ops.norm(x, 3.5, 1),
    lambda x: ops.norm(x, INF, 1), lambda x: ops.power_mean(x, 2.5, 1),
    lambda x: ops.power_mean(x, -1.5, 1), lambda x: ops.power_mean(x, 1e-7, 1),
    lambda x: ops.power_mean(x, 0.0, 1), lambda x: ops.geometric_mean(x, 1),
    lambda x: ops.var(x, 1), lambda x: ops.std(x, (0, 1)), lambda x: ops.normalize(x, dim=1),
    lambda x: ops.cosine_similarity(x, x.flip(0)),
])
def test_gradcheck_and_gradgradcheck(f):
    x = _x(3, 4).requires_grad_()
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("p", [0.0, 1e-9, 1e-5, 0.3, 1.0, 2.0, 7.0, 60.0, -0.7, -8.0])
def test_power_mean_and_dp_match_mpmath(p):
    xs = [0.3, 1.7, 2.2, 5.0]
    x = torch.tensor(xs, dtype=F64)
    pt = torch.tensor(p, dtype=F64)

    def mp_mean(q):
        if q == 0:
            return mpmath.exp(mpmath.fsum(mpmath.log(v) for v in xs) / len(xs))
        return (mpmath.fsum(mpmath.mpf(v) ** q for v in xs) / len(xs)) ** (1 / q)

    assert_same(ops.power_mean(x, pt), float(mp_mean(mpmath.mpf(p))), rtol=1e-12)
    gx, gp = grad_of(ops.power_mean, x, pt)
    if p != 0:
        dp = float(mpmath.diff(mp_mean, mpmath.mpf(p)))
    else:  # analytically: M'(0) = M(0)·Var(log x)/2
        logs = [mpmath.log(v) for v in xs]
        mu = mpmath.fsum(logs) / 4
        dp = float(mp_mean(0) * mpmath.fsum((v - mu) ** 2 for v in logs) / 4 / 2)
    assert_same(gp, dp, rtol=1e-8)
    big_m = mp_mean(mpmath.mpf(p))
    for i in range(4):  # analytically: dM/dx_i = (x_i/M)^(p-1)/n  (p = 0: M/(n x_i))
        want = big_m / (4 * xs[i]) if p == 0 else (xs[i] / big_m) ** (p - 1) / 4
        assert_same(gx[i], float(want), rtol=1e-9)
    # float32 within a float32 tolerance
    g32 = grad_of(ops.power_mean, x.float(), pt.float())
    torch.testing.assert_close(g32[0], gx.float(), rtol=2e-4, atol=1e-6)
    torch.testing.assert_close(g32[1], gp.float(), rtol=2e-3, atol=1e-5)


def test_limits_and_zero_window():
    x = torch.tensor([1.0, 4.0, 2.0], dtype=F64)
    assert_same(ops.power_mean(x, INF), 4.0)
    assert_same(ops.power_mean(x, -INF), 1.0)
    assert_same(ops.power_mean(x, 0.0), 2.0, rtol=1e-14)
    z = torch.zeros(3, dtype=F64)
    gz, gp = grad_of(ops.power_mean, z, torch.tensor(3.0, dtype=F64))
    assert_same(gz, [0.0, 0.0, 0.0])
    assert_same(gp, 0.0)
    gz, gp = grad_of(ops.norm, z, torch.tensor(0.5, dtype=F64))
    assert_same(gz, [0.0, 0.0, 0.0])
    assert_same(gp, 0.0)


@pytest.mark.parametrize("values,p", [([100.0] * 3, 80.0), ([1e-30] * 3, 3.0),
                                      ([1e30, 2e30], 2.0), ([1e-35, 3e-35], 5.0)])
def test_float32_never_overflows_or_underflows_needlessly(values, p):
    x = torch.tensor(values, dtype=F32)
    want_norm = float(mpmath.fsum(mpmath.mpf(v) ** p for v in values) ** (1 / mpmath.mpf(p)))
    assert_same(ops.norm(x, torch.tensor(p)), want_norm, rtol=1e-5)
    want_mean = want_norm / len(values) ** (1 / p)
    assert_same(ops.power_mean(x, torch.tensor(p)), want_mean, rtol=1e-5)
    gx, gp = grad_of(ops.norm, x, torch.tensor(p))
    assert torch.isfinite(gx).all() and torch.isfinite(gp).all()
    if p == 2.0:
        assert_same(ops.norm(x), want_norm, rtol=1e-6)


def test_norm_agrees_with_torch_and_conventions():
    x = _x(4, 5)
    for ord in (2, 1, 3.0, INF, -INF, 0, 0.5):
        torch.testing.assert_close(ops.norm(x, ord, 1), torch.linalg.vector_norm(x, ord, 1))
    torch.testing.assert_close(ops.norm(x, dim=(0, 1), keepdim=True),
                               torch.linalg.vector_norm(x, dim=(0, 1), keepdim=True))
    (g,) = grad_of(ops.norm, torch.zeros(3, dtype=F64))
    assert_same(g, [0.0, 0.0, 0.0])
    (g,) = grad_of(ops.norm, torch.tensor([INF, 1.0], dtype=F64))
    assert_same(g, [1.0, 0.0])


def test_std_var_constant_slices_and_torch_agreement():
    x = _x(3, 6)
    for c in (0, 1, 2):
        torch.testing.assert_close(ops.std(x, 1, correction=c), torch.std(x, 1, correction=c))
        torch.testing.assert_close(ops.var(x, (0, 1), correction=c, keepdim=True),
                                   torch.var(x, (0, 1), correction=c, keepdim=True))
    for v, dtype in ((0.1, F64), (7.7, F32), (1e30, F32)):
        const = torch.full((7,), v, dtype=dtype)
        assert ops.std(const).item() == 0.0
        (g,) = grad_of(ops.std, const)
        assert torch.equal(g, torch.zeros_like(g))


def test_normalize_and_cosine_similarity_at_zero():
    z = torch.zeros(2, 3, dtype=F64)
    assert torch.equal(ops.normalize(z), z)
    (g,) = grad_of(lambda v: ops.normalize(v) * torch.arange(3.0, dtype=F64), z)
    assert torch.equal(g, z)
    tiny = torch.tensor([[3e-20, 4e-20]], dtype=F64)
    assert_same(ops.normalize(tiny), [[0.6, 0.8]], rtol=1e-14)  # no eps: tiny vectors work
    one = torch.ones(2, 3, dtype=F64)
    assert_same(ops.cosine_similarity(z, one), [0.0, 0.0])
    (g,) = grad_of(lambda v: ops.cosine_similarity(v, one), z)
    assert torch.equal(g, z)
    x, y = _x(4, 5), _x(4, 5, seed=1)
    torch.testing.assert_close(ops.cosine_similarity(x, y), torch.cosine_similarity(x, y))
    torch.testing.assert_close(ops.normalize(x, 3.0, 0), torch.nn.functional.normalize(x, 3.0, 0))


def test_geometric_mean_float32_range():
    x = torch.tensor([1e30, 1e30, 1e-30 * 1e30], dtype=F32)
    assert_same(ops.geometric_mean(x), float(mpmath.cbrt(mpmath.mpf(1e60))), rtol=1e-5)
    (g,) = grad_of(ops.geometric_mean, torch.tensor([0.0, 2.0, 3.0], dtype=F64))
    assert_same(g, [0.0, 0.0, 0.0])
    assert not math.isnan(ops.geometric_mean(torch.tensor([-2.0, 8.0])).item())

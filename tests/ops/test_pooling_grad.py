"""Pooling ops: gradcheck/gradgradcheck, window geometry against PyTorch, ties, second-order
contract at zeros, and a property test over random shapes and special values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import netgrad
from netgrad import ops

F64 = torch.float64
LP = {1: ops.lp_pool1d, 2: ops.lp_pool2d, 3: ops.lp_pool3d}
PM = {1: ops.power_mean_pool1d, 2: ops.power_mean_pool2d, 3: ops.power_mean_pool3d}
MAX = {1: ops.max_pool1d, 2: ops.max_pool2d, 3: ops.max_pool3d}
MEAN = {1: ops.mean_pool1d, 2: ops.mean_pool2d, 3: ops.mean_pool3d}
TOTAL = {1: ops.total_pool1d, 2: ops.total_pool2d, 3: ops.total_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
TMAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}

# (kernel, stride, padding, ceil_mode): tiling, overlapping, padded, ceil partial windows
GEOMETRIES = [(2, 2, 0, False), (3, 1, 0, False), (3, 2, 1, False), (2, 3, 0, True),
              (3, 2, 1, True)]


def _x(d, size=5, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((2, 3) + (size,) * d, generator=g, dtype=dtype)


def _naive(x, p, geom, mean):
    """The textbook formula on a generic x (no zeros), for value comparisons."""
    k, s, pad, ceil = geom
    d = x.dim() - 2
    pp = p.reshape((1, -1) + (1,) * d) if isinstance(p, torch.Tensor) else p
    if mean:
        return AVG[d](x.abs() ** pp, k, s, pad, ceil, count_include_pad=False) ** (1 / pp)
    ones = torch.ones_like(x)
    total = AVG[d](x.abs() ** pp, k, s, pad, ceil, count_include_pad=False) * \
        AVG[d](ones, k, s, pad, ceil, count_include_pad=False, divisor_override=1) \
        if d > 1 else AVG[d](x.abs() ** pp, k, s, pad, ceil, count_include_pad=False) * \
        AVG[2](ones.unsqueeze(-1), (k, 1), (s, 1), (pad, 0), ceil, False, divisor_override=1).squeeze(-1)
    return total ** (1 / pp)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("mean", [False, True])
def test_values_and_gradients_match_the_formula_at_ordinary_points(d, geom, mean):
    x = _x(d).requires_grad_()
    p = torch.tensor([0.7, 2.0, 3.5], dtype=F64, requires_grad=True)
    k, s, pad, ceil = geom
    y = (PM if mean else LP)[d](x, p, k, s, ceil, padding=pad)
    ref = _naive(x, p, geom, mean)
    assert y.shape == ref.shape == TMAX[d](x, k, s, pad, ceil_mode=ceil).shape
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, p), g)
    want = torch.autograd.grad(ref, (x, p), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("mean", [False, True])
def test_gradcheck_and_gradgradcheck(d, mean):
    size = 4 if d == 3 else 5
    fn = (PM if mean else LP)[d]
    geom = (3, 2, 1, False) if d < 3 else (2, 2, 0, False)

    def f(x, p):
        return fn(x, p, geom[0], geom[1], geom[3], padding=geom[2])

    x = _x(d, size, seed=1)[:1, :2]
    x = (x.sign() * (x.abs() + 0.3)).requires_grad_()  # finite differences need no tiny windows
    p = torch.tensor([0.7, 1.5], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, p))
    assert torch.autograd.gradgradcheck(f, (x, p))
    # Zero elements: |x|^p is twice differentiable there for p = 2 (smooth) and p = 3. At a zero
    # with p = 3 the central difference of the gradient is off by O(eps) (3·eps·|g| here, about
    # 1e-5 at the default eps = 1e-6, the size of gradcheck's atol), so the step is 1e-7, and the
    # random output gradients gradgradcheck draws come from a fixed seed, not from whatever
    # state earlier tests left in the global generator.
    x.data[0, 0].view(-1)[2] = 0.0  # isolated zeros (an all-zero window is a true kink)
    x.data[0, 1].view(-1)[3] = 0.0
    p = torch.tensor([2.0, 3.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, p), eps=1e-7)
    torch.manual_seed(0)
    assert torch.autograd.gradgradcheck(f, (x, p), eps=1e-7)


def test_gradgradcheck_scalar_p_and_unbatched():
    x = _x(2, 4, seed=2)[0].requires_grad_()  # (C, H, W)
    p = torch.tensor(2.5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, p: ops.lp_pool2d(x, p, 2), (x, p))
    assert torch.autograd.gradgradcheck(lambda x, p: ops.power_mean_pool2d(x, p, 3, 1), (x, p))


def test_power_mean_at_p_zero_is_the_geometric_mean_with_its_derivatives():
    x = (_x(1, 6, seed=3).abs() + 0.1).requires_grad_()
    p = torch.tensor(0.0, dtype=F64, requires_grad=True)
    y = ops.power_mean_pool1d(x, p, 3)
    geo = torch.exp(torch.log(x).reshape(2, 3, 2, 3).mean(-1))
    torch.testing.assert_close(y, geo, rtol=1e-13, atol=0)
    gx, gp = torch.autograd.grad(y.sum(), (x, p))
    gx_ref, = torch.autograd.grad(geo.sum(), x)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-12, atol=0)
    lg = torch.log(x.detach()).reshape(2, 3, 2, 3)
    var = lg.var(-1, correction=0)
    torch.testing.assert_close(gp, (geo.detach() * var / 2).sum(), rtol=1e-12, atol=0)
    # the limit from the right agrees with p = 0
    y_eps = ops.power_mean_pool1d(x.detach(), 1e-9, 3)
    torch.testing.assert_close(y_eps, y.detach(), rtol=1e-8, atol=0)
    # double backward at p = 0: the same first derivatives, and d²y/dp² = y (κ3/3 + κ2²/4)
    y = ops.power_mean_pool1d(x, p, 3)
    gx2, gp2 = torch.autograd.grad(y.sum(), (x, p), create_graph=True)
    torch.testing.assert_close(gx2.detach(), gx, rtol=1e-12, atol=0)
    torch.testing.assert_close(gp2.detach(), gp, rtol=1e-12, atol=0)
    (hpp,) = torch.autograd.grad(gp2, p)
    dev = lg - lg.mean(-1, keepdim=True)
    k3 = (dev ** 3).mean(-1)
    torch.testing.assert_close(hpp, (geo.detach() * (k3 / 3 + var ** 2 / 4)).sum(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("mean", [False, True])
@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_all_zero_windows_have_zero_gradients_first_and_second_order(mean, p, dtype):
    x = torch.zeros(1, 2, 4, dtype=dtype)
    x[0, 1, 2] = 1.5  # second channel: one window with one non-zero element
    x.requires_grad_()
    pt = torch.tensor(p, dtype=dtype, requires_grad=True)
    y = (ops.power_mean_pool1d if mean else ops.lp_pool1d)(x, pt, 2)
    n = 2 if mean else 1
    want_y = torch.tensor([[[0.0, 0.0], [0.0, 1.5 / n ** (1 / p)]]], dtype=dtype)
    torch.testing.assert_close(y.detach(), want_y)
    gx, gp = torch.autograd.grad(y.sum(), (x, pt), create_graph=True)
    want_gx = torch.zeros_like(x)
    want_gx[0, 1, 2] = (1 / n) ** (1 / p)  # y = 1.5·n^(-1/p): exact derivative
    torch.testing.assert_close(gx.detach(), want_gx)
    want_gp = 1.5 * math.log(n) / p ** 2 * n ** (-1 / p)  # d/dp of 1.5·n^(-1/p)
    torch.testing.assert_close(gp.detach(), torch.tensor(want_gp, dtype=dtype))
    hx, hp = torch.autograd.grad(gx.sum() + gp, (x, pt))
    assert torch.isfinite(hx).all() and torch.isfinite(hp).all()
    assert (hx[0, 0] == 0).all()  # all-zero windows: the second order is zero as well


def test_fast_backward_and_differentiable_backward_agree():
    x = _x(2, 6, seed=4).requires_grad_()
    x.data[0, 0, :2, :2] = 0.0  # an all-zero window
    x.data[0, 1, 2, 2] = 0.0
    for fn in (ops.lp_pool2d, ops.power_mean_pool2d):
        for p in (0.6, 1.0, 4.0):
            pt = torch.full((3,), p, dtype=F64, requires_grad=True)
            y = fn(x, pt, 3, 2, padding=1)
            g = torch.randn_like(y)
            fast = torch.autograd.grad(y, (x, pt), g, retain_graph=True)
            slow = torch.autograd.grad(y, (x, pt), g, create_graph=True)
            for a, b in zip(fast, slow):
                torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_max_mean_total_match_pytorch(d, geom):
    k, s, pad, ceil = geom
    x = _x(d, seed=5)
    torch.testing.assert_close(MAX[d](x, k, s, pad, ceil), TMAX[d](x, k, s, pad, ceil_mode=ceil))
    torch.testing.assert_close(MEAN[d](x, k, s, pad, ceil),
                               AVG[d](x, k, s, pad, ceil, count_include_pad=False))
    ones = torch.ones_like(x)
    counts_all = MEAN[d](ones, k, s, pad, ceil) * 0 + TOTAL[d](ones, k, s, pad, ceil)
    torch.testing.assert_close(TOTAL[d](x, k, s, pad, ceil),
                               MEAN[d](x, k, s, pad, ceil) * counts_all)


def test_max_pool_splits_ties_evenly_and_has_double_backward():
    x = torch.tensor([[[1.0, 3.0, 3.0, 0.0, 2.0, 2.0, 2.0, -1.0]]], dtype=F64, requires_grad=True)
    y = ops.max_pool1d(x, 4)
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    assert gx.detach().flatten().tolist() == [0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3, 0]
    y2 = ops.max_pool1d(x, 3, 1, padding=1)  # overlapping windows, -inf padding
    torch.testing.assert_close(y2, F.max_pool1d(x, 3, 1, 1))
    assert torch.autograd.gradcheck(lambda x: ops.max_pool1d(x, 3, 2, 1), (torch.randn(1, 2, 9, dtype=F64, requires_grad=True),))


def test_errors_name_the_op_the_rule_and_the_fix():
    x = torch.randn(1, 2, 6)
    with pytest.raises(netgrad.NetValueError, match=r"ops\.lp_pool1d.*> 0|ops\.lp_pool1d.*2\^-100"):
        ops.lp_pool1d(x, 0.0, 2)
    with pytest.raises(netgrad.NetValueError, match="max pooling"):
        ops.power_mean_pool1d(x, math.inf, 2)
    with pytest.raises(ValueError, match="one value per channel"):
        ops.lp_pool1d(x, torch.ones(3), 2)
    with pytest.raises(ValueError, match="at least the kernel size"):
        ops.lp_pool1d(x, 2.0, 7)
    with pytest.raises(ValueError, match=r"\(N, C, 2 spatial dims\)"):
        ops.lp_pool2d(x.flatten(), 2.0, 2)
    with pytest.raises(ValueError, match="half the kernel"):
        ops.max_pool1d(x, 2, 1, 2)


_SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e30, -3e30, 1.0, -2.5, 1e-40, 7.0]


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 3), pad=st.integers(0, 1),
       size=st.integers(3, 5), mean=st.booleans(),
       p=st.sampled_from([0.0, 1e-3, 0.3, 1.0, 2.0, 3.0, 17.0, 100.0]),
       values=st.lists(st.sampled_from(_SPECIAL), min_size=8, max_size=8), seed=st.integers(0, 99))
def test_float32_is_finite_and_close_to_float64(d, k, s, pad, size, mean, p, values, seed):
    pad = min(pad, k // 2)
    if not mean and p == 0.0:
        p = 0.5
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(values), (1, 2) + (size,) * d, generator=g)
    x64 = torch.tensor(values, dtype=F64)[idx]
    x32 = x64.float().requires_grad_()
    x64.requires_grad_()
    fn = (PM if mean else LP)[d]
    out = []
    for x in (x32, x64):
        pt = torch.tensor(p, dtype=x.dtype, requires_grad=True)
        y = fn(x, pt, k, s, padding=pad)
        gx, gp = torch.autograd.grad(y, (x, pt), torch.ones_like(y))
        out.append((y, gx, gp))
    (y32, gx32, gp32), (y64, gx64, gp64) = out
    big = torch.finfo(torch.float32).max
    ok = y64.abs() <= big  # where the true value is representable in float32
    assert torch.isfinite(y32[ok]).all()
    torch.testing.assert_close(y32[ok].double(), y64[ok], rtol=1e-4, atol=1e-37)
    gok = gx64.abs() <= big / 1e3
    assert torch.isfinite(gx32[gok]).all()
    assert not torch.isnan(gx32).any() and not torch.isnan(gp32)
    if torch.isfinite(gp64) and gp64.abs() < big / 1e3 and bool(ok.all()):
        assert torch.isfinite(gp32)


def test_robust_mode_and_channels_last_inputs_give_the_same_results():
    x = _x(2, 6, seed=6).requires_grad_()
    p = torch.tensor([1.5, 3.0, 0.8], dtype=F64, requires_grad=True)
    y = ops.power_mean_pool2d(x, p, 2)
    g = torch.autograd.grad(y.sum(), (x, p))
    with ops.robust():
        y2 = ops.power_mean_pool2d(x, p, 2)
        g2 = torch.autograd.grad(y2.sum(), (x, p))
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    y3 = ops.power_mean_pool2d(xc, p, 2)
    g3 = torch.autograd.grad(y3.sum(), (xc, p))
    for a, b, c in zip((y, *g), (y2, *g2), (y3, *g3)):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape, kernel", [((2, 3, 7), 2), ((2, 3, 9, 8), (2, 3)),
                                           ((1, 2, 5, 4, 6), 2)])
def test_block_max_pool_fast_backward_matches_the_general_one(shape, kernel, dtype):
    """Disjoint blocks (stride = kernel) take a fast first-order backward; it must agree with
    the differentiable one: ties split evenly, a remainder past the last block gets 0, and a
    non-maximal element gets 0 even from an infinite cotangent."""
    from netgrad import ops
    d = len(shape) - 2
    pool = {1: ops.max_pool1d, 2: ops.max_pool2d, 3: ops.max_pool3d}[d]
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, shape, generator=gen).to(dtype).relu()  # many ties, zero blocks
    x.requires_grad_(True)
    y = pool(x, kernel)
    g = torch.randn(y.shape, generator=gen, dtype=dtype)
    g.view(-1)[0] = float("inf")
    fast = torch.autograd.grad(y, x, g, retain_graph=True)[0]
    general = torch.autograd.grad(y, x, g, create_graph=True)[0]
    assert torch.equal(torch.isnan(fast), torch.isnan(general))
    torch.testing.assert_close(fast, general, rtol=0, atol=0, equal_nan=True)
    finite = torch.isfinite(g).all(dim=tuple(range(1, g.dim())))
    assert torch.isfinite(fast[1:] if not finite[0] else fast).all()

"""The fast backward paths (fused kernels, dedicated Functions) against independent references
and against the create_graph path built from robust operations, at adversarial points."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradgradcheck

from netgrad import ops
from netgrad.ops._registry import R
from _ops_testing import INF, NAN, assert_same, grad_of

F64, F32 = torch.float64, torch.float32


def _graph_grad(f, *xs, cotangent=None):
    """Gradients taken with create_graph=True: the backward built from robust operations."""
    leaves = [x.detach().clone().requires_grad_(True) for x in xs]
    out = f(*leaves)
    ct = torch.ones_like(out) if cotangent is None else cotangent
    gs = torch.autograd.grad(out, leaves, ct, create_graph=True, allow_unused=True)
    return [g.detach() if g is not None else torch.zeros_like(x) for g, x in zip(gs, leaves)]


_sig = lambda v: 1 / (1 + mpmath.exp(-v))  # noqa: E731
SATURATING = {
    "tanh": (ops.tanh, lambda v: 1 / mpmath.cosh(v) ** 2),
    "logistic_sigmoid": (ops.logistic_sigmoid, lambda v: _sig(v) * _sig(-v)),
    # softplus is linear above its threshold (torch's convention): derivative exactly 1 there
    "softplus": (ops.softplus, lambda v: _sig(v) if v <= 20 else mpmath.mpf(1)),
    "softplus(β=2, t=5)": (lambda v: ops.softplus(v, 2.0, 5.0),
                           lambda v: _sig(2 * v) if 2 * v <= 5 else mpmath.mpf(1)),
}
POINTS = [-800.0, -104.0, -89.0, -45.0, -40.5, -39.5, -30.0, -20.5, -19.5, -17.0, -8.0, -2.5,
          -1e-3, 0.0, 1e-20, 0.7, 2.5, 8.0, 17.0, 19.5, 20.5, 30.0, 39.5, 40.5, 45.0, 89.0, 104.0,
          800.0]


@pytest.mark.parametrize("name", SATURATING)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_saturating_derivatives_keep_relative_accuracy(name, dtype):
    op, deriv = SATURATING[name]
    x = torch.tensor(POINTS, dtype=dtype)
    (g,) = grad_of(op, x)
    want = torch.tensor([float(deriv(mpmath.mpf(float(v)))) for v in x], dtype=dtype)
    tiny = torch.finfo(dtype).tiny
    assert_same(g, want, rtol=1e-6 if dtype == F32 else 1e-13, atol=tiny)
    (gg,) = _graph_grad(op, x)
    assert_same(g, gg, rtol=1e-5 if dtype == F32 else 1e-12, atol=tiny)


@pytest.mark.parametrize("name", SATURATING)
def test_saturating_fast_path_strong_zeros_and_huge_cotangents(name):
    """0 cotangent: exact 0 (also at NaN inputs); a cotangent so large that the fused kernel's
    g·exp(..) overflows still gives the finite product; an infinite cotangent meets a
    derivative that is exactly 0 in float32 as 0."""
    op, deriv = SATURATING[name]
    xs = [-200.0, -19.0, -10.0, 0.0, 10.0, 19.0, 200.0, NAN]
    x = torch.tensor(xs)
    d32 = [float(torch.tensor(float(deriv(mpmath.mpf(v))), dtype=F32)) if math.isfinite(v)
           else NAN for v in xs]
    for c in (0.0, 1e31, INF):
        (g,) = grad_of(op, x, cotangent=torch.full((len(xs),), c))
        want = [0.0 if c == 0 or d == 0 else float(torch.tensor(c * d, dtype=F32))
                for d in d32]
        assert_same(g, want, rtol=2e-6, atol=1e-37)


def test_log_softmax_backward_fix_up_found_from_one_entry_per_slice():
    """An infinite Σg in one slice (only) still gets the convention: entries with y = -inf
    keep their own g; other slices are untouched."""
    x = torch.tensor([[0.0, -INF, 1.0], [0.5, 1.0, 2.0], [1.0, 2.0, 3.0]], dtype=F64)
    ct = torch.tensor([[1.0, INF, 2.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
    (g,) = grad_of(lambda v: ops.log_softmax(v, 1), x, cotangent=ct)
    assert g[0, 1] == INF and torch.isinf(g[0, 0]) and torch.isinf(g[0, 2])
    (ref,) = grad_of(lambda v: torch.log_softmax(v, 1), x[1:], cotangent=ct[1:])
    assert_same(g[1:], ref, rtol=1e-14)
    # slices torch gets wrong are found from their first entry, in any dim and layout
    y = torch.tensor([[1.0, -INF], [2.0, -INF], [INF, -INF]], dtype=F64)
    for v, dim in ((y, 0), (y.T, 1), (y.T.contiguous(), 1)):
        assert_same(ops.softmax(v, dim), torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]],
                                                      dtype=F64).T if dim == 0 else
                    torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=F64))
        assert_same(ops.log_softmax(v, dim).select(1 - dim, 1), [-INF, -INF, -INF])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2)])
def test_cross_entropy_indices_fast_path(reduction, shape):
    x = torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    t = torch.randint(0, 4, [shape[0], *shape[2:]], generator=torch.Generator().manual_seed(3))
    t.view(-1)[1] = -100
    f = lambda v: ops.cross_entropy(v, t, reduction=reduction)  # noqa: E731
    torch.testing.assert_close(f(x), F.cross_entropy(x, t, reduction=reduction))
    ct = None if reduction != "none" else torch.rand(t.shape, dtype=F64)
    (g,) = grad_of(f, x, cotangent=ct)
    (gg,) = _graph_grad(f, x, cotangent=ct)
    (ref,) = grad_of(lambda v: F.cross_entropy(v, t, reduction=reduction), x, cotangent=ct)
    assert_same(g, ref, rtol=1e-12, atol=1e-15)
    assert_same(gg, ref, rtol=1e-12, atol=1e-15)
    assert gradgradcheck(f, (x.requires_grad_(),))


def test_cross_entropy_fast_path_falls_back_on_masked_and_infinite_rows():
    x = torch.tensor([[-INF, -INF, -INF], [0.0, -INF, 1.0], [INF, 0.0, 1.0]], dtype=F64)
    t = torch.tensor([0, 2, 1])
    (g,) = grad_of(lambda v: ops.cross_entropy(v, t, reduction="none")[:2], x)
    assert_same(g[0], [0.0, 0.0, 0.0])
    p = torch.softmax(x[1], 0)
    assert_same(g[1], p - torch.tensor([0.0, 0.0, 1.0], dtype=F64), rtol=1e-12)
    (g,) = grad_of(lambda v: ops.cross_entropy(v, torch.tensor([2]), reduction="sum"), x[1:2])
    assert not torch.isnan(g).any() and g[0, 1] == 0
    # all targets ignored: the mean is 0/0 as in torch, the gradient an exact 0
    t_ign = torch.full((3,), -100)
    xs = torch.randn(3, 4, dtype=F64)
    assert torch.isnan(ops.cross_entropy(xs, t_ign))
    (g,) = grad_of(lambda v: ops.cross_entropy(v, t_ign, reduction="sum"), xs)
    assert torch.equal(g, torch.zeros_like(xs))


@pytest.mark.parametrize("p", [0.3, 1.0, 1.5, 3.0, 7.5, 60.0])
def test_pnorm_fast_path_against_mpmath_and_the_composition(p):
    xs = [[0.3, -1.7, 0.0, 5.0], [1e-3, 2.0, -2.0, 0.5]]
    x = torch.tensor(xs, dtype=F64)
    pt = torch.tensor(p, dtype=F64)

    def mp_norm(row, q):
        return mpmath.fsum(abs(mpmath.mpf(v)) ** q for v in row) ** (1 / q)

    want = [float(mp_norm(r, mpmath.mpf(p))) for r in xs]
    assert_same(ops.norm(x, pt, 1), want, rtol=1e-13)
    gx, gp = grad_of(lambda a, q: ops.norm(a, q, 1), x, pt)
    want_dp = sum(float(mpmath.diff(lambda q: mp_norm(r, q), mpmath.mpf(p))) for r in xs)
    assert_same(gp, want_dp, rtol=1e-9)
    for i, r in enumerate(xs):
        n = mp_norm(r, mpmath.mpf(p))
        for j, v in enumerate(r):
            d = 0.0 if v == 0 else float(mpmath.sign(v) * (abs(mpmath.mpf(v)) / n) ** (p - 1))
            assert_same(gx[i, j], d, rtol=1e-12, atol=1e-300)
    ggx, ggp = _graph_grad(lambda a, q: ops.norm(a, q, 1), x, pt)
    assert_same(gx, ggx, rtol=1e-10, atol=1e-300)
    assert_same(gp, ggp, rtol=1e-10)
    g32 = grad_of(lambda a, q: ops.norm(a, q, 1), x.float(), pt.float())
    torch.testing.assert_close(g32[0], gx.float(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g32[1], gp.float(), rtol=1e-4, atol=1e-6)
    smooth = torch.tensor([[0.3, -1.7, 0.9, 5.0], [0.4, 2.0, -2.1, 0.5]], dtype=F64)
    assert gradgradcheck(lambda a, q: ops.norm(a, q, 1, keepdim=True),
                         (smooth.requires_grad_(), pt.clone().requires_grad_()))


def test_pnorm_fast_path_infinite_cotangent_and_fallbacks():
    x = torch.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 0.0], [1.0, INF, 2.0]], dtype=F64)
    pt = torch.tensor(3.0, dtype=F64)
    gx, gp = grad_of(lambda a, q: ops.norm(a, q, 1), x[:1], pt,
                     cotangent=torch.tensor([INF], dtype=F64))
    assert gx[0, 0] == 0 and gx[0, 1] == INF and gx[0, 2] == -INF
    gx, gp = grad_of(lambda a, q: ops.norm(a, q, 1), x, pt)  # zero and inf slices: composition
    assert_same(gx[1], [0.0, 0.0, 0.0])
    assert_same(gx[2], [0.0, 1.0, 0.0])
    assert_same(ops.norm(x, pt, 1)[1:], [0.0, INF])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalize_fast_path_against_torch_and_the_composition(dim):
    x = torch.randn(3, 4, 5, dtype=F64, generator=torch.Generator().manual_seed(4))
    x[1, 2] = 0.0  # a zero vector along dim = -1, and zeros inside other vectors
    x[0, :, 3] = 0.0
    ct = torch.randn(3, 4, 5, dtype=F64, generator=torch.Generator().manual_seed(5))
    f = lambda v: ops.normalize(v, dim=dim)  # noqa: E731
    (g,) = grad_of(f, x, cotangent=ct)
    (gg,) = _graph_grad(f, x, cotangent=ct)
    (ref,) = grad_of(lambda v: F.normalize(v, dim=dim), x, cotangent=ct)  # eps: same off zero
    assert_same(g, gg, rtol=1e-12, atol=1e-15)
    nonzero = (torch.linalg.vector_norm(x, 2, dim, keepdim=True) > 0).expand_as(x)
    assert_same(g[nonzero], ref[nonzero], rtol=1e-10, atol=1e-12)  # torch: 1e12 at 0 (eps)
    assert torch.equal(g[~nonzero], torch.zeros_like(g[~nonzero]))
    torch.testing.assert_close(f(x), F.normalize(x, dim=dim))
    smooth = torch.randn(2, 3, dtype=F64).requires_grad_()
    assert gradgradcheck(lambda v: ops.normalize(v, dim=dim % 2), (smooth,))


def test_normalize_fast_path_edges():
    tiny = torch.tensor([[3e-30, 4e-30], [0.0, 0.0], [3.0, 4.0]], dtype=F32)
    assert_same(ops.normalize(tiny), [[0.6, 0.8], [0.0, 0.0], [0.6, 0.8]], rtol=1e-6)
    (g,) = grad_of(ops.normalize, tiny, cotangent=torch.tensor([[1.0, 0.0]] * 3))
    assert_same(g[1], [0.0, 0.0])
    assert_same(g[2], [0.128, -0.096], rtol=1e-5)
    ct = torch.tensor([[INF, 0.0], [INF, 1.0], [0.0, 0.0]], dtype=F64)
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [INF, 1.0]], dtype=F64)
    (g,) = grad_of(ops.normalize, x, cotangent=ct)
    assert_same(g[1], [0.0, 0.0])  # zero vector: 0 even against an infinite cotangent
    (ref,) = grad_of(lambda v: R.where(ops.norm(v.detach(), 2, 1, keepdim=True) == 0, 0.0,
                                       R.div(v, ops.norm(v, 2, 1, keepdim=True))),
                     x, cotangent=ct)
    assert_same(g, ref)  # infinite cotangents and norms: exactly the composition's gradient


@pytest.mark.parametrize("shape,dim", [((300, 256), 1), ((256, 300), 0), ((40, 997), 1),
                                       ((3, 70, 400), 2), ((1100, 64), 1), ((100, 1000), 1),
                                       ((70, 1111), 1)])
def test_cumprod_blocked_scan_against_the_doubling_scan(shape, dim):
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(*shape, dtype=F64, generator=gen) * 0.4 + 0.8
    x.view(-1)[::97] = 0.0  # zeros inside long rows
    ct = torch.randn(*shape, dtype=F64, generator=gen)
    f = lambda v: ops.cumprod(v, dim)  # noqa: E731
    ct0 = ct.clone()
    (g,) = grad_of(f, x, cotangent=ct)
    assert torch.equal(ct, ct0)  # the cotangent is read, never written
    (gg,) = _graph_grad(f, x, cotangent=ct)  # the doubling scan with strong zeros
    assert_same(g, gg, rtol=1e-9, atol=1e-12)
    (g32,) = grad_of(f, x.float(), cotangent=ct.float())
    torch.testing.assert_close(g32, g.float(), rtol=1e-4, atol=1e-4)


def test_cumprod_blocked_scan_zero_times_inf_takes_the_careful_path():
    x = torch.rand(4, 300, dtype=F64) + 0.5
    x[1, 10], x[1, 200] = 0.0, INF
    x[2, 250] = INF
    ct = torch.zeros(4, 300, dtype=F64)
    ct[:, :5] = 1.0
    ct[3, 299] = INF
    (g,) = grad_of(lambda v: ops.cumprod(v, 1), x, cotangent=ct)
    (gg,) = _graph_grad(lambda v: ops.cumprod(v, 1), x, cotangent=ct)
    assert_same(g, gg, rtol=1e-9)
    assert not torch.isnan(g[:3]).any()


def test_cross_entropy_fast_path_values_at_wide_logits():
    x = torch.tensor([[0.0, -1e4, 30.0, 30.0], [-80.0, 0.0, 1e-3, 1.0], [5.0, 5.0, 5.0, 5.0]])
    for t in (torch.tensor([1, 0, 2]), torch.tensor([2, 3, 0])):
        for dtype in (F32, F64):
            xd = x.to(dtype)
            want = F.cross_entropy(xd, t, reduction="none")
            assert_same(ops.cross_entropy(xd, t, reduction="none"), want,
                        rtol=1e-6 if dtype == F32 else 1e-14, atol=1e-6 if dtype == F32 else 1e-14)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_mul_finite_fast_path_and_its_fallbacks(dtype):
    """Finite factors (checked once on the product) and a finite cotangent: the plain products.
    A non-finite cotangent, a non-finite factor or a product that overflows with finite
    factors takes the strong-zero path; create_graph keeps the robust composition."""
    a = torch.tensor([0.0, 2.0, -3.0, 1e-30, 4.0], dtype=dtype)
    b = torch.tensor([5.0, 0.0, 0.5, 1e-30, -1.5], dtype=dtype)
    ct = torch.tensor([1.0, 2.0, -1.0, 3.0, 0.5], dtype=dtype)
    ga, gb = grad_of(ops.mul, a, b, cotangent=ct)
    assert_same(ga, ct * b, rtol=0)
    assert_same(gb, ct * a, rtol=0)
    gga, ggb = _graph_grad(ops.mul, a, b, cotangent=ct)
    assert_same(gga, ga, rtol=0)
    assert_same(ggb, gb, rtol=0)
    # infinite cotangent against a zero factor: 0, not NaN
    ct_inf = torch.tensor([INF, INF, 0.0, 1.0, NAN], dtype=dtype)
    ga, gb = grad_of(ops.mul, a, b, cotangent=ct_inf)
    assert_same(ga, [INF, 0.0, 0.0, 1e-30, NAN])
    assert_same(gb, [0.0, INF, 0.0, 1e-30, NAN])
    # a non-finite factor (product not finite): zero cotangents and zero factors still kill it
    x = torch.tensor([INF, NAN, 1.0, INF], dtype=dtype)
    z = torch.tensor([0.0, 2.0, 3.0, 1.0], dtype=dtype)
    gx, gz = grad_of(ops.mul, x, z, cotangent=torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=dtype))
    assert_same(gx, [0.0, 0.0, 3.0, 1.0])
    assert_same(gz, [INF, 0.0, 1.0, INF])
    # a product that overflows (finite factors): the careful path, same finite gradients
    big = torch.finfo(dtype).max
    u = torch.tensor([big, 2.0], dtype=dtype)
    v = torch.tensor([4.0, 0.0], dtype=dtype)
    gu, gv = grad_of(ops.mul, u, v, cotangent=torch.tensor([0.5, INF], dtype=dtype))
    assert_same(gu, [2.0, 0.0])
    assert_same(gv, [big / 2, INF])
    # broadcasting and one trainable factor: the general path
    gu, gv = grad_of(ops.mul, a[:, None], b[None, :])
    assert_same(gu, b.sum().expand(5, 1), rtol=1e-6)
    assert_same(gv, a.sum().expand(1, 5), rtol=1e-6)
    la = a.clone().requires_grad_()
    (ga,) = torch.autograd.grad(ops.mul(la, b), [la], ct_inf)
    assert_same(ga, [INF, 0.0, 0.0, 1e-30, NAN])


@pytest.mark.parametrize("dtype", [F32, F64])
def test_softmax_backward_nan_check_from_one_entry_per_slice(dtype, monkeypatch):
    """The fast backward skips the NaN pass only when the first entry of every slice proves
    that none can occur; a 0 · inf that only overflow produces (g - Σg·y with y = 0 and huge
    finite cotangents) is still found and resolved to the strong zero."""
    from netgrad.ops import _softmax

    full_checks = []
    careful = _softmax._softmax_vjp
    monkeypatch.setattr(_softmax, "_softmax_vjp", lambda *a: full_checks.append(1) or careful(*a))
    big = torch.finfo(dtype).max
    n = 4096  # long enough slices, a tensor large enough for the one-entry-per-slice check
    x = torch.randn(8, n, dtype=dtype, generator=torch.Generator().manual_seed(7))
    ct = torch.randn(8, n, dtype=dtype, generator=torch.Generator().manual_seed(8))
    for dim in (0, 1):
        (g,) = grad_of(lambda v: ops.softmax(v, dim), x, cotangent=ct)
        (ref,) = grad_of(lambda v: torch.softmax(v, dim), x, cotangent=ct)
        assert torch.equal(g, ref)
    assert not full_checks
    x[2, 0] = -INF  # a masked first entry gives no bound: the full check
    (g,) = grad_of(lambda v: ops.softmax(v, 1), x, cotangent=ct)
    assert full_checks and g[2, 0] == 0 and not torch.isnan(g).any()
    full_checks.clear()
    x[2, 0] = 0.0
    x[0, 1] = -1e4  # y = 0 there, against g - Σg·y overflowing to -inf
    ct[0] = 0.9 * big
    ct[0, 1] = -big
    (g,) = grad_of(lambda v: ops.softmax(v, 1), x, cotangent=ct)
    assert full_checks and g[0, 1] == 0 and torch.isfinite(g).all()
    (ref,) = grad_of(lambda v: torch.softmax(v, 1), x, cotangent=ct)
    assert torch.isnan(ref[0, 1]) and torch.equal(g[1:], ref[1:])


def test_softmax_infinite_cotangent_on_a_masked_entry_stays_finite_elsewhere():
    # y = (0.5, 0, 0.5): the masked entry's infinite cotangent meets y = 0 (an exact 0 in Σ g·y)
    from netgrad import ops
    for create_graph in (False, True):
        x = torch.tensor([0.0, float("-inf"), 0.0], dtype=torch.float64, requires_grad=True)
        y = ops.softmax(x, 0)
        g = torch.tensor([1.0, float("inf"), 2.0], dtype=torch.float64)
        (gx,) = torch.autograd.grad(y, x, g, create_graph=create_graph)
        assert gx.tolist() == [-0.25, 0.0, 0.25], create_graph

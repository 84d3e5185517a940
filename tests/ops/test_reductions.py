"""Reductions: dims (None / int / tuple, keepdim), exclusive-product gradients, logsumexp."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from _ops_testing import INF, assert_same, grad_of

F64 = torch.float64
DIMS = [None, 1, (0, 2), (-1,), (0, 1, 2)]


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_dims_and_keepdim_agree_with_torch(name, dim, keepdim):
    x = torch.randn(2, 3, 4, dtype=F64, generator=torch.Generator().manual_seed(3))
    out = getattr(ops, name)(x, dim, keepdim)
    dims = tuple(range(3)) if dim is None else dim
    ref = x
    if name == "prod":
        for d in sorted((d % 3 for d in ((dims,) if isinstance(dims, int) else dims)),
                        reverse=True):
            ref = ref.prod(d, keepdim=keepdim)
    else:
        ref = getattr(torch, name)(x, dims, keepdim=keepdim)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("f", [lambda x: ops.prod(x, (0, 2)), lambda x: ops.prod(x),
                               lambda x: ops.cumprod(x, 1), lambda x: ops.logsumexp(x, (0, 2)),
                               lambda x: ops.amax(x, 1), lambda x: ops.sum(x, (0, 1))])
def test_gradcheck_and_gradgradcheck(f):
    x = torch.randn(2, 3, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    x.requires_grad_()
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def _mp_prod_grad(xs):
    return [float(mpmath.fprod([mpmath.mpf(v) for j, v in enumerate(xs) if j != i]))
            for i in range(len(xs))]


@pytest.mark.parametrize("xs", [[4.0, 0.0], [0.0, 0.0, 3.0], [0.0, 2.0, 3.0], [1e-30, 1e30, 5.0],
                                [1e20, 1e20, 1e-25], [-2.0, 0.0, INF]])
def test_prod_gradient_is_product_of_others(xs):
    (g,) = grad_of(ops.prod, torch.tensor(xs, dtype=F64))
    assert_same(g, _mp_prod_grad(xs), rtol=1e-12)


def test_prod_of_ramp_is_the_contract_case():
    (g,) = grad_of(lambda x: ops.prod(ops.ramp(x)), torch.tensor([4.0, -2.0]))
    assert_same(g, [0.0, 0.0])


def _mp_cumprod_terms(xs, ct, k):
    return [ct[i] * mpmath.fprod([mpmath.mpf(xs[j]) for j in range(i + 1) if j != k])
            for i in range(k, len(xs))]


def _mp_cumprod_grad(xs, ct):
    return [float(mpmath.fsum(_mp_cumprod_terms(xs, ct, k))) for k in range(len(xs))]


def _cumprod_sum_scale(xs, ct):
    """Σ|terms| of each gradient entry: a sum in floating point is accurate to eps times this
    (when terms cancel, e.g. 1 + 1e-20 - 1, no float64 evaluation keeps the 1e-20)."""
    return [float(mpmath.fsum(abs(t) for t in _mp_cumprod_terms(xs, ct, k)))
            for k in range(len(xs))]


@settings(max_examples=30, deadline=None)
@given(xs=st.lists(st.sampled_from([0.0, 0.0, 1.0, -2.0, 0.5, 3.0, 1e-20, 1e20]),
                   min_size=1, max_size=9),
       ct=st.lists(st.sampled_from([0.0, 1.0, -1.5]), min_size=9, max_size=9))
def test_cumprod_gradient_against_mpmath(xs, ct):
    x = torch.tensor(xs, dtype=F64)
    (g,) = grad_of(lambda v: ops.cumprod(v, 0), x, cotangent=torch.tensor(ct[:len(xs)],
                                                                         dtype=F64))
    ref = torch.tensor(_mp_cumprod_grad(xs, ct[:len(xs)]), dtype=F64)
    scale = torch.tensor(_cumprod_sum_scale(xs, ct[:len(xs)]), dtype=F64)
    assert not torch.isnan(g).any()
    assert torch.all((g - ref).abs() <= 1e-12 * ref.abs() + 8 * 2.0 ** -52 * scale + 1e-300), \
        (g, ref)


def test_cumprod_gradient_where_terms_cancel():
    # the example hypothesis found: the true gradient is -1e-20, but its terms are ~1 and cancel
    xs, ct = [1.0, 0.0, -2.0, 0.5, 1e-20], [0.0, 1.0, 0.0, 1.0, 1.0]
    (g,) = grad_of(lambda v: ops.cumprod(v, 0), torch.tensor(xs, dtype=F64),
                   cotangent=torch.tensor(ct, dtype=F64))
    ref = _mp_cumprod_grad(xs, ct)
    scale = _cumprod_sum_scale(xs, ct)
    for a, r, s in zip(g.tolist(), ref, scale):
        assert abs(a - r) <= 1e-12 * abs(r) + 8 * 2.0 ** -52 * s


def test_cumprod_float32_underflow_without_division():
    (g,) = grad_of(lambda v: ops.cumprod(v, 0)[-1], torch.tensor([1e-30, 1e-30, 1e30]))
    assert_same(g, [1.0, 1.0, 0.0], rtol=1e-6, atol=1e-38)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 999),
       zeros=st.integers(0, 3))
def test_prod_property_random_shapes_with_zeros(shape, seed, zeros):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=F64)
    flat = x.reshape(-1)
    flat[torch.randperm(flat.numel(), generator=g)[:zeros]] = 0.0
    dim = tuple(range(0, len(shape), 2))
    (gn,) = grad_of(lambda v: ops.prod(v, dim), x)
    assert not torch.isnan(gn).any()
    # reference: d/dx_i = product of the other factors of its slice, by brute force
    ref = torch.empty_like(x)
    for idx in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[idx] = 1.0
        bumped = x.reshape(-1).clone()
        bumped[idx] = 1.0
        others = ops.prod(bumped.reshape(shape), dim, keepdim=True).expand(shape)
        ref.reshape(-1)[idx] = others.reshape(-1)[idx]
    torch.testing.assert_close(gn, ref)


def test_logsumexp_special_slices():
    x = torch.tensor([[-INF, -INF], [INF, 1.0], [INF, INF], [0.0, math.log(3.0)]], dtype=F64)
    out = ops.logsumexp(x, 1)
    assert_same(out, [-INF, INF, INF, math.log(4.0)])
    (g,) = grad_of(lambda v: ops.logsumexp(v, 1), x)
    assert_same(g, [[0.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.25, 0.75]], rtol=1e-12)
    torch.testing.assert_close(ops.logsumexp(torch.tensor([1e4, 1e4]), 0),
                               torch.tensor(1e4 + math.log(2.0)))


def test_amax_ties_split_evenly():
    (g,) = grad_of(lambda v: ops.amax(v, (0, 1)), torch.tensor([[1.0, 3.0], [3.0, 3.0]]))
    assert_same(g, [[0.0, 1 / 3], [1 / 3, 1 / 3]])

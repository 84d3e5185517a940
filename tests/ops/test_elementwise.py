"""Unary elementwise ops: gradcheck, mpmath references at adversarial points, strong zeros."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from _ops_testing import DEVICES, INF, NAN, assert_same, grad_of

F64, F32 = torch.float64, torch.float32

# name: (netgrad op, torch op, mpmath function, domain of ordinary points)
UNARY = {
    "sqrt": (ops.sqrt, torch.sqrt, mpmath.sqrt, "pos"),
    "exp": (ops.exp, torch.exp, mpmath.exp, "real"),
    "log": (ops.log, torch.log, mpmath.log, "pos"),
    "log1p": (ops.log1p, torch.log1p, mpmath.log1p, "pos"),
    "expm1": (ops.expm1, torch.expm1, mpmath.expm1, "real"),
    "abs": (ops.abs, torch.abs, abs, "real"),
    "ramp": (ops.ramp, torch.relu, lambda x: max(x, 0), "real"),
    "tanh": (ops.tanh, torch.tanh, mpmath.tanh, "real"),
    "logistic_sigmoid": (ops.logistic_sigmoid, torch.sigmoid,
                         lambda x: 1 / (1 + mpmath.exp(-x)), "real"),
    "softplus": (ops.softplus, torch.nn.functional.softplus,
                 lambda x: mpmath.log1p(mpmath.exp(x)), "real"),
    "sin": (ops.sin, torch.sin, mpmath.sin, "real"),
    "cos": (ops.cos, torch.cos, mpmath.cos, "real"),
    "sinc": (ops.sinc, torch.sinc, lambda x: mpmath.sinc(mpmath.pi * x) if x else
             mpmath.mpf(1), "real"),
}


def _points(domain, dtype=F64, n=6):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, generator=g, dtype=dtype) * 1.5
    return x.abs() + 0.2 if domain == "pos" else x + 0.05 * torch.sign(x)


@pytest.mark.parametrize("name", [*UNARY, "sign"])
def test_gradcheck_and_gradgradcheck(name):
    op = ops.sign if name == "sign" else UNARY[name][0]
    x = _points(UNARY[name][3] if name in UNARY else "real").requires_grad_()
    assert gradcheck(op, (x,))
    assert gradgradcheck(op, (x,))


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("device", DEVICES)
def test_forward_agrees_with_torch(name, device):
    op, ref = UNARY[name][:2]
    x = torch.tensor([-INF, -1e30, -3.0, -1e-30, 0.0, 1e-30, 0.5, 3.0, 1e30, INF, NAN],
                     device=device)
    for dtype in (F32, F64):
        torch.testing.assert_close(op(x.to(dtype)), ref(x.to(dtype)), equal_nan=True)


_sig = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
# independent derivatives, written from calculus, evaluated in 50-digit arithmetic
MP_DERIVATIVE = {
    "sqrt": lambda x: 1 / (2 * mpmath.sqrt(x)),
    "exp": mpmath.exp,
    "log": lambda x: 1 / x,
    "log1p": lambda x: 1 / (1 + x),
    "expm1": mpmath.exp,
    "tanh": lambda x: 1 / mpmath.cosh(x) ** 2,
    "logistic_sigmoid": lambda x: _sig(x) * (1 - _sig(x)),
    "softplus": _sig,
    "sin": mpmath.cos,
    "cos": lambda x: -mpmath.sin(x),
    "sinc": lambda x: (mpmath.cos(mpmath.pi * x) - mpmath.sin(mpmath.pi * x) /
                       (mpmath.pi * x)) / x,
}

# (op, x, correct derivative): adversarial points, with infinities and conventions explicit
ADVERSARIAL = [
    ("sqrt", 0.0, INF), ("sqrt", 1e-300, None), ("sqrt", 1e300, None), ("sqrt", INF, 0.0),
    ("log", 0.0, INF), ("log", 1e-300, None), ("log", INF, 0.0),
    ("log1p", -1.0, INF), ("log1p", -0.999999, None), ("log1p", 1e-20, None),
    ("exp", -INF, 0.0), ("exp", -745.0, None), ("exp", 700.0, None),
    ("expm1", 1e-20, None), ("expm1", -INF, 0.0),
    ("abs", 0.0, 0.0), ("abs", -1e-300, -1.0), ("ramp", 0.0, 0.0), ("ramp", 1e-300, 1.0),
    ("ramp", -1e-300, 0.0), ("tanh", 20.0, None), ("tanh", 400.0, 0.0), ("tanh", 0.0, 1.0),
    ("logistic_sigmoid", -800.0, 0.0), ("logistic_sigmoid", 40.0, None),
    ("logistic_sigmoid", -40.0, None), ("softplus", -50.0, None), ("softplus", 30.0, 1.0),
    ("sin", 0.0, 1.0), ("cos", 0.0, 0.0), ("cos", math.pi / 2, None),
    ("sinc", 0.0, 0.0), ("sinc", 1e-8, None), ("sinc", 1e-3, None), ("sinc", 0.03, None),
    ("sinc", 0.3, None), ("sinc", 2.5, None), ("sinc", -0.01, None),
]


@pytest.mark.parametrize("name,x,correct", ADVERSARIAL)
def test_derivative_matches_mpmath(name, x, correct):
    op = UNARY[name][0]
    if correct is None:
        correct = float(MP_DERIVATIVE[name](mpmath.mpf(x)))
    (g64,) = grad_of(op, torch.tensor([x], dtype=F64))
    assert_same(g64, correct, rtol=1e-10, atol=1e-300)
    x32 = torch.tensor([x], dtype=F32)
    if math.isfinite(x) and abs(x) < 3e38 and (x == 0 or abs(x) > 1e-37):
        (g32,) = grad_of(op, x32)
        if name in MP_DERIVATIVE and math.isfinite(correct) and x != 0:  # at the float32 input
            correct = float(MP_DERIVATIVE[name](mpmath.mpf(float(x32))))
        c32 = torch.tensor(correct, dtype=F32)
        assert_same(g32, c32, rtol=2e-5, atol=1e-37)


@pytest.mark.parametrize("name", [*UNARY, "sign"])
def test_strong_zero_cotangent(name):
    """A zero cotangent gives an exact 0 at every input, including inf, 0 and NaN-derivative
    points."""
    op = ops.sign if name == "sign" else UNARY[name][0]
    x = torch.tensor([-INF, -1.0, 0.0, 1e-45, 1.0, INF, -1e30], dtype=F64)
    (g,) = grad_of(op, x, cotangent=torch.zeros(7, dtype=F64))
    assert torch.equal(g, torch.zeros(7, dtype=F64))


def test_zero_derivative_kills_infinite_cotangent():
    # sqrt(ramp(x)) at x = -1: sqrt' = inf meets ramp' = 0
    (g,) = grad_of(lambda x: ops.sqrt(ops.ramp(x)), torch.tensor([-1.0, 4.0], dtype=F64))
    assert_same(g, [0.0, 0.25])
    # sqrt(1 - tanh(x)) at a saturated x: tanh' = 0 exactly, sqrt' = inf
    (g,) = grad_of(lambda x: ops.sqrt(1 - ops.tanh(x)), torch.tensor([400.0], dtype=F64))
    assert_same(g, [0.0])
    # exp(-inf) = 0 with derivative 0 against log's infinite derivative at 0
    (g,) = grad_of(lambda x: ops.log(ops.exp(x)), torch.tensor([-INF], dtype=F64))
    assert not torch.isnan(g).any()


def test_second_derivatives_keep_the_contract():
    x = torch.tensor([-1.0, 0.0, 4.0], dtype=F64, requires_grad=True)
    y = ops.where(x > 0, ops.sqrt(x), 0.0)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    assert_same(h, [0.0, 0.0, -0.25 * 4.0 ** -1.5])


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(UNARY)),
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       specials=st.lists(st.sampled_from([0.0, -0.0, INF, -INF, 1e-40, 1e38, -1e38, 88.0,
                                          -100.0]), max_size=4),
       seed=st.integers(0, 2 ** 16))
def test_property_random_shapes_with_special_values(name, shape, specials, seed):
    op, ref = UNARY[name][:2]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=F32) * 3
    flat = x.reshape(-1)
    for i, v in enumerate(specials[:flat.numel()]):
        flat[i] = v
    torch.testing.assert_close(op(x), ref(x), equal_nan=True)
    mask = torch.rand(shape, generator=g) < 0.5
    ct = torch.where(mask, 1.0, 0.0).to(F32)
    (gn,) = grad_of(op, x, cotangent=ct)
    (gt,) = grad_of(ref, x.double(), cotangent=ct.double())  # torch in float64 as reference
    assert torch.equal(gn[~mask], torch.zeros_like(gn[~mask]))  # strong zeros
    ok = torch.isfinite(gt) & (x != 0) & mask & (gt.abs() < 3e38)
    torch.testing.assert_close(gn[ok], gt[ok].float(), rtol=1e-4, atol=1e-30)

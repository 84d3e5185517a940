"""Binary and selection ops: gradcheck, adversarial points, broadcasting, numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from _ops_testing import INF, assert_same, grad_of

F64 = torch.float64
OPS = {"mul": ops.mul, "div": ops.div, "pow": ops.pow, "atan2": ops.atan2, "hypot": ops.hypot,
       "xlogy": ops.xlogy, "maximum": ops.maximum, "minimum": ops.minimum,
       "where": lambda a, b: ops.where(a > b, a * b, b), "clip": lambda a, b: ops.clip(a, b)}


@pytest.mark.parametrize("name", OPS)
def test_gradcheck_and_gradgradcheck_with_broadcasting(name):
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(3, 4, generator=g, dtype=F64) + 0.3).requires_grad_()
    b = (torch.randn(4, generator=g, dtype=F64)).requires_grad_()
    if name in ("div", "xlogy"):
        a, b = b.detach().expand(3, 4).clone().requires_grad_(), a
    assert gradcheck(OPS[name], (a, b))
    assert gradgradcheck(OPS[name], (a, b))




ADVERSARIAL = [
    # (op, a, b, (da, db))
    ("div", 1.0, 0.0, (INF, -INF)),
    ("div", 0.0, 2.0, (0.5, 0.0)),
    ("div", 3.0, INF, (0.0, 0.0)),
    ("pow", 0.0, 2.0, (0.0, 0.0)),
    ("pow", 0.0, 0.0, (0.0, 0.0)),
    ("pow", 0.0, 0.5, (INF, 0.0)),
    ("pow", 2.0, 0.0, (0.0, math.log(2.0))),
    ("pow", -2.0, 3.0, (12.0, -8.0 * math.log(2.0))),
    ("atan2", 0.0, 0.0, (0.0, 0.0)),
    ("atan2", 1e300, 1e300, (0.5e-300, -0.5e-300)),
    ("atan2", 1.0, INF, (0.0, 0.0)),
    ("hypot", 0.0, 0.0, (0.0, 0.0)),
    ("hypot", INF, 1.0, (1.0, 0.0)),
    ("hypot", -INF, INF, (-1 / math.sqrt(2), 1 / math.sqrt(2))),
    ("hypot", 3e300, 4e300, (0.6, 0.8)),
    ("xlogy", 0.0, 0.0, (-INF, 0.0)),
    ("xlogy", 2.0, 0.0, (-INF, INF)),
    ("xlogy", 0.0, 5.0, (math.log(5.0), 0.0)),
    ("maximum", 2.0, 2.0, (0.5, 0.5)),
    ("minimum", -1.0, -1.0, (0.5, 0.5)),
]


@pytest.mark.parametrize("name,a,b,expected", ADVERSARIAL)
def test_adversarial_points(name, a, b, expected):
    for dtype, rtol in ((F64, 1e-12), (torch.float32, 1e-6)):
        if dtype == torch.float32 and max(abs(a), abs(b)) > 3e38 and math.isfinite(a + b):
            continue
        ga, gb = grad_of(OPS[name], torch.tensor([a], dtype=dtype), torch.tensor([b], dtype=dtype))
        assert_same(ga, [expected[0]], rtol=rtol, atol=1e-300 if dtype == F64 else 1e-38)
        assert_same(gb, [expected[1]], rtol=rtol, atol=1e-300 if dtype == F64 else 1e-38)


def test_where_unused_branch_never_leaks():
    x = torch.tensor([-1.0, 0.0, 4.0], dtype=F64)
    (g,) = grad_of(lambda v: ops.where(v > 0, ops.sqrt(v) + ops.log(v), 0.0), x)
    assert_same(g, [0.0, 0.0, 0.25 + 0.25])
    (g,) = grad_of(lambda v: ops.where(v != 0, ops.div(1.0, v), 0.0), torch.zeros(2, dtype=F64))
    assert_same(g, [0.0, 0.0])


def test_clip_conventions():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=F64)
    (g,) = grad_of(lambda v: ops.clip(v, -1.0, 1.0), x)
    assert_same(g, [0.0, 0.0, 1.0, 0.0, 0.0])  # 0 at the kinks (minimum norm)
    lo = torch.tensor([1.0] * 5, dtype=F64)
    g, glo = grad_of(lambda v, b: ops.clip(v, b), x, lo)
    assert_same(g, [0.0, 0.0, 0.0, 0.5, 1.0])
    assert_same(glo, [1.0, 1.0, 1.0, 0.5, 0.0])
    torch.testing.assert_close(ops.clip(x, -0.5, 0.5), torch.clip(x, -0.5, 0.5))


def test_numbers_on_either_side_and_forward_agrees():
    x = torch.tensor([0.0, 0.5, -2.0, INF], dtype=F64)
    for f, ref in ((lambda v: ops.mul(2.0, v), lambda v: 2.0 * v),
                   (lambda v: ops.div(1.0, v), lambda v: 1.0 / v),
                   (lambda v: ops.pow(2.0, v), lambda v: 2.0 ** v),
                   (lambda v: ops.pow(v, 2), lambda v: v ** 2),
                   (lambda v: ops.xlogy(v, 3.0), lambda v: torch.xlogy(v, 3.0))):
        torch.testing.assert_close(f(x), ref(x), equal_nan=True)
    assert torch.equal(ops.mul(torch.tensor([2, 3]), 2), torch.tensor([4, 6]))  # ints: torch
    assert ops.div(torch.tensor([7]), 2, rounding_mode="floor").item() == 3


def test_trainable_exponent():
    x = torch.tensor([0.0, 1.5, 3.0], dtype=F64)
    p = torch.tensor(2.5, dtype=F64)
    gx, gp = grad_of(ops.pow, x, p)
    assert_same(gx, [0.0, 2.5 * 1.5 ** 1.5, 2.5 * 3.0 ** 1.5])
    assert_same(gp, 1.5 ** 2.5 * math.log(1.5) + 3.0 ** 2.5 * math.log(3.0), rtol=1e-12)


def test_mul_strong_zero():
    ga, gb = grad_of(ops.mul, torch.tensor([0.0], dtype=F64), torch.tensor([INF], dtype=F64),
                     cotangent=torch.zeros(1, dtype=F64))
    assert_same(ga, [0.0])
    assert_same(gb, [0.0])
    # a zero factor kills an infinite cotangent coming from sqrt at 0
    a, b = grad_of(lambda u, v: ops.sqrt(ops.mul(u, v)), torch.tensor([0.0], dtype=F64),
                   torch.tensor([0.0], dtype=F64))
    assert_same(a, [0.0])
    assert_same(b, [0.0])

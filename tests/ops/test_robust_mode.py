"""robust(): plain torch code on the robust operations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from netgrad import ops
from netgrad.ops._robust import RobustMode, robust_counterpart
from _ops_testing import INF, assert_same, grad_of

F64 = torch.float64


def _robustly(f):
    def run(*xs):
        with ops.robust():
            return f(*xs)
    return run


def test_the_issue_examples():
    (g,) = grad_of(_robustly(lambda x: torch.where(x > 0, torch.sqrt(x), 0)),
                   torch.tensor([-1.0, 4.0]))
    assert_same(g, [0.0, 0.25])
    gx, gy = grad_of(_robustly(lambda x, y: torch.sqrt(x * x + y * y)), torch.zeros(1),
                     torch.zeros(1))
    assert_same(gx, [0.0]) and assert_same(gy, [0.0])


def test_operators_methods_and_functional_are_routed():
    x = torch.tensor([0.5, 2.0], dtype=F64, requires_grad=True)
    with ops.robust():
        routed = [x * x, x / 2, 2 / x, x ** 2, 2 ** x, abs(x), x.sqrt(), torch.exp(x),
                  F.relu(x), F.softplus(x), x.sigmoid(), torch.tanh(x), x.clamp(min=1.0),
                  x.prod(), torch.logsumexp(x, 0), F.softmax(x, 0),
                  torch.linalg.vector_norm(x), x.norm(), x.std(), torch.special.xlogy(x, x),
                  F.normalize(x, dim=0), torch.where(x > 1, x, 0.0), x @ x,
                  torch.matmul(x, x), F.linear(x, x[None])]
        untouched = [x + x, x - 1, x.sum(), torch.atan(x), x.amax()]
    for y in routed:
        assert "torch.autograd.function" in type(y.grad_fn).__module__ or \
            type(y.grad_fn).__name__.startswith("_"), y.grad_fn
    for y in untouched:
        assert type(y.grad_fn).__module__ != "torch.autograd.function", y.grad_fn


def test_values_are_torch_values():
    x = torch.linspace(-3, 3, 13, dtype=F64)
    with ops.robust():
        got = [x * 3, x / 7, x.abs() ** 1.5, torch.sin(x), F.softplus(x, 2.0), x.clamp(-1, 1),
               torch.std(x, 0, True), torch.var(x, unbiased=False), torch.max(x, x.flip(0)),
               torch.cumprod(x, 0), torch.norm(x, 3), F.log_softmax(x, 0)]
    want = [x * 3, x / 7, x.abs() ** 1.5, torch.sin(x), F.softplus(x, 2.0), x.clamp(-1, 1),
            torch.std(x, 0, True), torch.var(x, unbiased=False), torch.max(x, x.flip(0)),
            torch.cumprod(x, 0), torch.norm(x, 3), F.log_softmax(x, 0)]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_overloads_without_counterpart_pass_through():
    x = torch.tensor([[1.0, 3.0], [2.0, 0.0]], requires_grad=True)
    with ops.robust():
        values, idx = torch.max(x, 1)
        out = torch.empty(2)
        torch.mul(x[0].detach(), x[1].detach(), out=out)
        z = torch.div(x, 2, rounding_mode="floor")
        mat = torch.norm(x, "nuc")
    assert idx.tolist() == [1, 0] and torch.equal(values, torch.tensor([3.0, 2.0]))
    assert torch.equal(out, torch.tensor([2.0, 0.0]))
    assert torch.equal(z, torch.div(x, 2, rounding_mode="floor"))
    torch.testing.assert_close(mat, torch.norm(x.detach(), "nuc"))


def test_reentrant_and_no_recursion():
    x = torch.tensor([4.0], requires_grad=True)
    with ops.robust():
        with ops.robust():
            stack = torch.overrides._get_current_function_mode_stack()
            assert sum(isinstance(m, RobustMode) for m in stack) == 1
            y = ops.sqrt(x) * torch.sqrt(x)  # calling netgrad.ops directly inside the mode
    (g,) = torch.autograd.grad(y.sum(), x)
    assert_same(g, [1.0])
    assert robust_counterpart(torch.conv2d) is None
    assert robust_counterpart(torch.sqrt) is not None


def test_backward_and_double_backward_inside_the_mode():
    x = torch.tensor([-1.0, 0.0, 9.0], dtype=F64, requires_grad=True)
    with ops.robust():
        y = torch.where(x > 0, torch.log(x) * torch.sqrt(x), 0.0).sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
    d2 = lambda t: -math.log(t) / (4 * t ** 1.5)  # noqa: E731  (log t · √t)''
    assert_same(h, [0.0, 0.0, d2(9.0)], rtol=1e-12)


def test_decorator_form():
    @ops.robust()
    def f(x):
        return torch.where(x > 0, torch.log(x), 0.0)

    (g,) = grad_of(f, torch.tensor([0.0, -INF]))
    assert_same(g, [0.0, 0.0])

"""softmax, log_softmax, binary_cross_entropy, cross_entropy, matmul, linear."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from _ops_testing import INF, assert_same, grad_of

F64 = torch.float64


def _x(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("op", [ops.softmax, ops.log_softmax])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_gradcheck_and_agreement(op, dim):
    x = _x(3, 4).requires_grad_()
    assert gradcheck(lambda v: op(v, dim), (x,))
    assert gradgradcheck(lambda v: op(v, dim), (x,))
    ref = torch.softmax if op is ops.softmax else torch.log_softmax
    torch.testing.assert_close(op(x, dim), ref(x, dim))
    torch.testing.assert_close(op(x.float(), dim, dtype=F64), ref(x.float(), dim, dtype=F64))


def test_fully_masked_and_infinite_rows():
    x = torch.tensor([[-INF, -INF, -INF], [0.0, -INF, math.log(3.0)], [INF, 0.0, INF]],
                     dtype=F64)
    assert_same(ops.softmax(x, 1), [[0, 0, 0], [0.25, 0, 0.75], [0.5, 0, 0.5]])
    assert_same(ops.log_softmax(x, 1)[:2], [[-INF] * 3, [math.log(0.25), -INF, math.log(0.75)]])
    w = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    (g,) = grad_of(lambda v: ops.softmax(v, 1)[:2] * w, x)
    assert_same(g[0], [0.0, 0.0, 0.0])
    assert_same(g[1], [0.25 * (1 - 2.5), 0.0, 0.75 * (3 - 2.5)], rtol=1e-12)
    (g,) = grad_of(lambda v: ops.log_softmax(v, 1)[:2, :1], x)
    assert_same(g[0], [0.0, 0.0, 0.0])
    assert_same(g[1], [0.75, 0.0, -0.75], rtol=1e-12)


def test_second_derivative_through_masked_softmax():
    x = torch.tensor([[-INF, -INF], [0.0, -INF]], dtype=F64, requires_grad=True)
    y = (ops.softmax(x, 1) * torch.tensor([1.0, 2.0], dtype=F64)).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    assert not torch.isnan(h).any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_agrees_inside_and_is_exact_at_the_edges(reduction):
    p = torch.rand(6, dtype=F64, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    t = torch.rand(6, dtype=F64, generator=torch.Generator().manual_seed(2))
    w = torch.rand(6, dtype=F64)
    torch.testing.assert_close(ops.binary_cross_entropy(p, t, w, reduction=reduction),
                               F.binary_cross_entropy(p, t, w, reduction=reduction))
    assert gradcheck(lambda a, b: ops.binary_cross_entropy(a, b, reduction=reduction),
                     (p.requires_grad_(), t.requires_grad_()))
    assert gradgradcheck(lambda a: ops.binary_cross_entropy(a, t.detach()), (p,))


def test_binary_cross_entropy_without_eps():
    (g,) = grad_of(lambda p: ops.binary_cross_entropy(p, torch.tensor([0.0, 1.0], dtype=F64),
                                                      reduction="none"),
                   torch.tensor([0.0, 1.0], dtype=F64))
    assert_same(g, [1.0, -1.0])
    assert_same(ops.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0])), INF)


KW = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
      dict(weight=True), dict(weight=True, label_smoothing=0.1), dict(ignore_index=2)]


@pytest.mark.parametrize("kw", KW)
@pytest.mark.parametrize("shape", [(5, 4), (4,), (3, 4, 2)])
def test_cross_entropy_agrees_with_torch(kw, shape):
    kw = dict(kw)
    if kw.get("weight"):
        kw["weight"] = torch.rand(4, dtype=F64, generator=torch.Generator().manual_seed(5))
    x = _x(*shape)
    cdim = 0 if len(shape) == 1 else 1
    tshape = [s for d, s in enumerate(shape) if d != cdim]
    t = torch.randint(0, 4, tshape, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(ops.cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw),
                               equal_nan=True)  # all targets ignored: 0/0 in both
    probs = torch.softmax(_x(*shape, seed=7), cdim)
    if "ignore_index" not in kw:
        torch.testing.assert_close(ops.cross_entropy(x, probs, **kw),
                                   F.cross_entropy(x, probs, **kw))
    if torch.isfinite(ops.cross_entropy(x, t, **kw)).all():
        assert gradcheck(lambda v: ops.cross_entropy(v, t, **kw), (x.requires_grad_(),))


def test_cross_entropy_with_masked_logits():
    x = torch.tensor([[0.0, -INF, 1.0]], dtype=F64)
    (g,) = grad_of(lambda v: ops.cross_entropy(v, torch.tensor([0])), x)
    p = torch.softmax(x, 1)
    assert_same(g, p - torch.tensor([[1.0, 0.0, 0.0]], dtype=F64), rtol=1e-12)
    soft = torch.tensor([[0.5, 0.0, 0.5]], dtype=F64)
    (g,) = grad_of(lambda v: ops.cross_entropy(v, soft), x)
    assert not torch.isnan(g).any() and g[0, 1] == 0


def test_matmul_and_linear_are_torch():
    a, w, b = _x(3, 4), _x(5, 4, seed=1), _x(5, seed=2)
    torch.testing.assert_close(ops.linear(a, w, b), F.linear(a, w, b))
    torch.testing.assert_close(ops.matmul(a, w.T), a @ w.T)
    assert gradgradcheck(ops.linear, (a.requires_grad_(), w.requires_grad_(), b.requires_grad_()))

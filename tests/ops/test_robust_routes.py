"""robust() on the code PyTorch users write: the routes of _rules_more, the stable rewrites,
in-place and out= forms, and attention inside nn modules (issue 11)."""

from __future__ import annotations

import math
import warnings

import mpmath
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from netgrad import ops
from netgrad.ops._rules_more import MORE
from netgrad.ops._underflow import UnderflowWarning

F32, F64 = torch.float32, torch.float64
INF = math.inf


def _grad(f, *xs, dtype=F64):
    xs = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in xs]
    with ops.robust():
        y = f(*xs)
    return torch.autograd.grad(y.sum(), xs)


# ----------------------------------------------------------------------------- the cases
def test_log_sigmoid_far_tail_is_logsigmoid():
    x = torch.tensor([-300.0, -20.0, 0.0, 30.0], requires_grad=True)
    with ops.robust():
        y = torch.log(torch.sigmoid(x))
        z = torch.log(1 - torch.sigmoid(x))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y.detach(), F.logsigmoid(x.detach()))
    torch.testing.assert_close(g, torch.sigmoid(-x.detach()))
    assert g[0] == 1.0
    torch.testing.assert_close(z.detach(), F.logsigmoid(-x.detach()))


def test_underflow_against_infinity_is_nan_and_reported_not_zero():
    # sqrt(sigmoid(x)) at -300: sqrt' = inf meets σ' = 0 by underflow; no rewrite is known
    x = torch.tensor([-300.0, 0.0], requires_grad=True)
    with ops.robust():
        y = torch.sqrt(torch.sigmoid(x))
    with pytest.warns(UnderflowWarning, match="logistic_sigmoid.*float32.*-300"):
        (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isnan(g[0]) and torch.isfinite(g[1])
    # an exact zero still kills the infinity: sqrt(relu(x)) at -1
    (g,) = _grad(lambda v: torch.sqrt(torch.relu(v)), [-1.0, 4.0])
    assert g.tolist() == [0.0, 0.25]


@pytest.mark.parametrize("dtype", [F32, torch.float16, torch.bfloat16])
def test_softplus_below_a_large_threshold_does_not_overflow(dtype):
    x = torch.tensor([90.0, -90.0, 1.0], dtype=dtype)
    with ops.robust():
        y = F.softplus(x, 1.0, 100.0)
    assert torch.isfinite(y).all()
    assert y[0] == 90.0
    torch.testing.assert_close(y[2].float(), torch.tensor(math.log1p(math.e)),
                               rtol=1e-2, atol=0)


@pytest.mark.parametrize("dtype", [F32, torch.float16, torch.bfloat16])
def test_log_sigmoid_bce_and_log1p_exp_forwards_are_finite(dtype):
    x = torch.tensor([-300.0, 300.0, 0.5], dtype=dtype)
    with ops.robust():
        ls = torch.log(torch.sigmoid(x))
        sp = torch.log1p(torch.exp(x))
        bce = F.binary_cross_entropy_with_logits(x, torch.tensor([1.0, 0.0, 1.0], dtype=dtype),
                                                 reduction="none")
    for t in (ls, sp, bce):
        assert torch.isfinite(t).all(), t
    assert ls[0] == -300.0 and sp[1] == 300.0 and bce[0] == 300.0


def test_log2_and_friends_keep_the_unused_branch_out():
    for f in (torch.log2, torch.log10, torch.asin, torch.acos, torch.acosh, torch.atanh,
              torch.rsqrt, torch.reciprocal, torch.erfinv, torch.logit):
        (g,) = _grad(lambda v, f=f: torch.where(v > 0.5, 0.0, f(v)), [0.75, -2.0, 2.0, 0.0, 1.0])
        assert g[0] == 0, f
    (g,) = _grad(lambda v: torch.where(v < 10, torch.exp2(v), 0.0), [5000.0, 1.0])
    assert g[0] == 0 and g[1] == 2 * math.log(2)
    (g,) = _grad(lambda v: torch.where(v < 10, torch.sinh(v), 0.0), [5000.0])
    assert g[0] == 0


def test_logaddexp_far_tail_second_derivative():
    a = torch.tensor([-800.0, 0.0, -INF, INF], dtype=F64, requires_grad=True)
    b = torch.tensor([0.0, 0.0, -INF, INF], dtype=F64, requires_grad=True)
    with ops.robust():
        y = torch.logaddexp(a, b)
        ga, gb = torch.autograd.grad(y.sum(), (a, b), create_graph=True)
        (h,) = torch.autograd.grad(ga.sum(), a)
    assert ga.tolist() == [0.0, 0.5, 0.0, 0.5] and gb.tolist() == [1.0, 0.5, 0.0, 0.5]
    assert torch.isfinite(h).all() and h[1] == 0.25
    s = 1 / (1 + mpmath.exp(800))
    assert float(h[0]) == pytest.approx(float(s * (1 - s)), rel=1e-12)


# ----------------------------------------------------------------------------- mpmath points
_REF = {
    "atan": (lambda v: 1 / (1 + v * v), [1e30, -1e20, 3.0, 0.0]),
    "asinh": (lambda v: 1 / mpmath.sqrt(1 + v * v), [1e30, -1e25, 0.5]),
    "acosh": (lambda v: 1 / mpmath.sqrt(v * v - 1), [1e30, 1.5]),
    "erf": (lambda v: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-v * v), [3.0, -5.0, 0.0]),
    "softsign": (lambda v: 1 / (1 + abs(v)) ** 2, [1e10, -3.0, 0.0]),
    "silu": (lambda v: mpmath.diff(lambda t: t / (1 + mpmath.exp(-t)), v), [-30.0, 2.0, 50.0]),
    "gelu": (lambda v: mpmath.ncdf(v) + v * mpmath.npdf(v), [-8.0, 0.5, 10.0]),
    "logsigmoid": (lambda v: 1 / (1 + mpmath.exp(v)), [-300.0, 80.0, 0.0]),
    "tan": (lambda v: 1 / mpmath.cos(v) ** 2, [1.5, -0.3]),
    "rsqrt": (lambda v: -0.5 * v ** -1.5, [1e-30, 4.0, 1e30]),
}


@pytest.mark.parametrize("name", sorted(_REF))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_adversarial_points_against_mpmath(name, dtype):
    deriv, points = _REF[name]
    mpmath.mp.dps = 50
    x = torch.tensor(points, dtype=dtype, requires_grad=True)
    op = MORE[name] if name != "gelu" else (lambda v: MORE["gelu"](v, "none"))
    (g,) = torch.autograd.grad(op(x).sum(), x)
    want = torch.tensor([float(deriv(mpmath.mpf(p))) for p in points], dtype=F64).to(dtype)
    tiny = torch.finfo(dtype).tiny
    torch.testing.assert_close(g, want, rtol=2e-6 if dtype == F32 else 1e-12, atol=tiny)


_ORDINARY = {"logit": [0.3, 0.6], "log2": [0.3, 2.0], "log10": [0.3, 2.0], "rsqrt": [0.3, 2.0],
             "acosh": [1.5, 3.0], "atanh": [0.3, -0.5], "asin": [0.3, -0.6],
             "acos": [0.3, -0.6], "erfinv": [0.3, -0.6]}


@pytest.mark.parametrize("name", sorted(MORE))
def test_gradcheck_and_double_backward(name):
    pts = _ORDINARY.get(name, [-1.3, 0.4, 2.1])
    x = torch.tensor(pts, dtype=F64, requires_grad=True)
    params = {"gelu": ("tanh",), "elu": (0.7,), "celu": (1.5,), "logit": (None,)}.get(name, ())
    f = lambda v: MORE[name](v, *params)  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_binary_rules_gradcheck():
    a = torch.tensor([-1.0, 0.5, 3.0], dtype=F64, requires_grad=True)
    b = torch.tensor([0.2, 0.5, -2.0], dtype=F64, requires_grad=True)
    for fn in (torch.logaddexp, torch.logaddexp2):
        def f(u, v, fn=fn):
            with ops.robust():
                return fn(u, v)
        assert gradcheck(f, (a, b)) and gradgradcheck(f, (a, b))


# ----------------------------------------------------------------------------- rewrites
def test_recognised_compositions_are_rewritten():
    x = torch.tensor([1e-8, 0.0, 2.0], dtype=F32, requires_grad=True)
    with ops.robust():
        em1 = torch.exp(x) - 1
        l1p = torch.log(1 + x)
        omc = 1 - torch.cos(x)
        xlx = x * torch.log(x)
        hyp = torch.sqrt(x * x + x ** 2)
        lse = torch.log(torch.softmax(torch.stack([x, x - 200]), 0))
    xd = x.detach()
    torch.testing.assert_close(em1, torch.expm1(xd))
    torch.testing.assert_close(l1p, torch.log1p(xd))
    torch.testing.assert_close(omc, 2 * torch.sin(xd / 2) ** 2)
    assert xlx[1] == 0 and torch.isfinite(xlx).all()
    torch.testing.assert_close(hyp, torch.hypot(xd, xd))
    assert torch.isfinite(lse).all() and lse[1, 0] == -200
    (g,) = torch.autograd.grad(hyp[1], x)
    assert g[1] == 0
    y = torch.tensor([1e-6], requires_grad=True)
    with ops.robust():
        r = torch.sqrt(1 - torch.cos(y))
    (g,) = torch.autograd.grad(r.sum(), y)
    assert g.item() == pytest.approx(1 / math.sqrt(2), rel=1e-5)


def test_a_mark_is_dropped_after_an_in_place_change():
    x = torch.tensor([-300.0, 0.0])
    with ops.robust():
        s = torch.sigmoid(x)
        s.mul_(1.0)
        x.add_(0.0)
        y = torch.log(s)
    assert y[0] == -INF  # no longer recognised: torch's value


# ----------------------------------------------------------------------------- in place, out=
def test_in_place_forms_are_robust():
    z = torch.tensor([0.0, 4.0], requires_grad=True)
    w = torch.tensor([INF, 2.0])
    with ops.robust():
        a = z * 1
        a.sqrt_()
        b = torch.where(z > 0, a, 0.0)
        c = b.clone()
        c.mul_(w)
    (g,) = torch.autograd.grad(c[1] + b.sum(), z)
    assert g.tolist() == [0.0, 0.75]
    x = torch.tensor([-INF, 1.0], requires_grad=True)
    with ops.robust():
        y = x * 1
        F.elu(y, inplace=True)
        t = torch.tanh(x * 1)
        t.exp_()
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g[0] == 0 and g[1] == 1
    with torch.no_grad(), ops.robust():
        v = torch.tensor([4.0])
        v.sqrt_()
    assert v.item() == 2.0


def test_out_forms():
    x = torch.tensor([0.25, 4.0], requires_grad=True)
    out = torch.empty(2)
    with ops.robust():
        torch.rsqrt(x.detach(), out=out)
        o2 = torch.empty(0)
        r = torch.log2(x, out=o2)
    assert r is o2 and out.tolist() == [2.0, 0.5]
    (g,) = torch.autograd.grad(o2.sum(), x)
    torch.testing.assert_close(g, 1 / (x.detach() * math.log(2)))


# ----------------------------------------------------------------------------- attention
def test_multi_head_attention_is_routed_piece_by_piece():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).double()
    x = torch.randn(2, 5, 8, dtype=F64)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True]])
    want, wt = mha(x, x, x, key_padding_mask=pad)
    with ops.robust():
        got, gw = mha(x, x, x, key_padding_mask=pad)
        got2, _ = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gw, wt)
    torch.testing.assert_close(got2, want)
    node, seen = got.grad_fn, []
    while node is not None and len(seen) < 4:
        seen.append(type(node).__name__)
        node = node.next_functions[0][0] if node.next_functions else None
    assert "_linearBackward" in seen or any(n.startswith("_") for n in seen), seen


def test_transformer_layer_with_a_fully_padded_sequence():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).double()
    x = torch.randn(3, 4, 16, dtype=F64)
    pad = torch.tensor([[False] * 4, [False, False, True, True], [True] * 4])
    keep = ~pad

    def loss_of(out, m):
        return (out * m[..., None]).pow(2).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's nested-tensor hints
        with ops.robust():
            out = layer(x, src_key_padding_mask=pad)
            grads = torch.autograd.grad(loss_of(out, keep), list(layer.parameters()))
        ref = layer(x[:2], src_key_padding_mask=pad[:2])
        ref_grads = torch.autograd.grad(loss_of(ref, keep[:2]), list(layer.parameters()))
        assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:2][keep[:2]], ref[keep[:2]])
    for g, r in zip(grads, ref_grads):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, r)

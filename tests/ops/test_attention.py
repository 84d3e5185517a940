"""netgrad.ops.scaled_dot_product_attention: torch's values, and fully masked rows that are 0
with gradient 0 (never NaN anywhere else)."""

import math

import pytest
import torch
import torch.nn.functional as F

from netgrad import ops


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
INF = math.inf


def _qkv(b=2, h=2, lq=3, lk=5, e=4, ev=3, seed=0, dtype=D):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, lq, e, generator=g, dtype=dtype),
            torch.randn(b, h, lk, e, generator=g, dtype=dtype),
            torch.randn(b, h, lk, ev, generator=g, dtype=dtype))


def _grads(f, *xs, cotangent=None):
    leaves = [x.detach().clone().requires_grad_(True) for x in xs]
    out = f(*leaves)
    g = torch.ones_like(out) if cotangent is None else cotangent
    return out.detach(), torch.autograd.grad(out, leaves, g)


def _masks(lq=3, lk=5):
    g = torch.Generator().manual_seed(5)
    boolean = torch.rand(2, 1, lq, lk, generator=g) > 0.3
    boolean[..., 0] = True  # no fully masked row here
    additive = torch.randn(2, 2, lq, lk, generator=g, dtype=D)
    return {"none": None, "bool": boolean, "additive": additive,
            "additive -inf": torch.where(boolean, additive, -INF)}


@pytest.mark.parametrize("mask", ["none", "bool", "additive", "additive -inf"])
@pytest.mark.parametrize("causal, scale", [(False, None), (False, 0.3)])
def test_values_and_gradients_equal_torch(mask, causal, scale):
    q, k, v = _qkv()
    m = _masks()[mask]
    ours = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, m, scale=scale), q, k, v)
    ref = _grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, m, scale=scale), q, k, v)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-13)
    for a, b in zip(ours[1], ref[1]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_causal_and_grouped_query_attention_equal_torch():
    q, k, v = _qkv(lq=5)
    for kwargs, kv in (({"is_causal": True}, (k, v)),
                       ({"enable_gqa": True}, (k[:, :1], v[:, :1]))):
        ours = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, **kwargs), q, *kv)
        ref = _grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs), q, *kv)
        torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-13)
        for a, b in zip(ours[1], ref[1]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mask", ["bool", "additive -inf"])
def test_the_formulas_equal_the_fused_kernel(mask):
    """The branch-free formulas (traced, torch.func, non-CPU) give the fused kernel's values."""
    q, k, v = _qkv()
    m = _masks()[mask]
    fast = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, m), q, k, v)
    with ops.sync_free():
        slow = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, m), q, k, v)
    torch.testing.assert_close(fast[0], slow[0], rtol=1e-12, atol=1e-13)
    for a, b in zip(fast[1], slow[1]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_a_fully_masked_row_is_zero_with_zero_gradient_and_others_unchanged(dtype, kind):
    q, k, v = _qkv(dtype=dtype)
    allowed = torch.rand(2, 2, 3, 5, generator=torch.Generator().manual_seed(1)) > 0.2
    allowed[..., 0] = True
    allowed[1, 0, 2] = False                              # batch 1, head 0, query 2: no key
    mask = allowed if kind == "bool" else torch.zeros(allowed.shape, dtype=dtype).masked_fill(
        ~allowed, -INF)
    out, (gq, gk, gv) = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, mask),
                               q, k, v)
    assert torch.equal(out[1, 0, 2], torch.zeros(3, dtype=dtype))
    assert torch.equal(gq[1, 0, 2], torch.zeros(4, dtype=dtype))
    for g in (gq, gk, gv):
        assert torch.isfinite(g).all()
    # every other row is what it is without the masked row
    keep = allowed.clone()
    keep[1, 0, 2] = True
    other = ops.scaled_dot_product_attention(q, k, v, keep if kind == "bool" else
                                             torch.zeros(keep.shape, dtype=dtype).masked_fill(~keep, -INF))
    rows = torch.ones(2, 2, 3, dtype=torch.bool)
    rows[1, 0, 2] = False
    torch.testing.assert_close(out[rows], other[rows], rtol=0, atol=0)


def test_the_fully_masked_row_gets_an_infinite_cotangent_and_still_gives_zero():
    q, k, v = _qkv()
    mask = torch.ones(2, 1, 3, 5, dtype=torch.bool)
    mask[0, :, 1] = False
    g = torch.ones(2, 2, 3, 3, dtype=D)
    g[0, 0, 1] = INF                                     # on the fully masked row
    _, (gq, gk, gv) = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, mask),
                             q, k, v, cotangent=g)
    assert torch.equal(gq[0, 0, 1], torch.zeros(4, dtype=D))
    for t in (gq, gk, gv):
        assert torch.isfinite(t).all()


def test_a_masked_key_with_an_infinite_value_never_leaks():
    """Weight exactly 0 meets an infinite value: the strong-zero product gives 0, not NaN (torch's
    fused kernel gives NaN in every row)."""
    q, k, v = _qkv()
    v = v.clone()
    v[:, :, 4] = INF
    mask = torch.ones(2, 1, 3, 5, dtype=torch.bool)
    mask[..., 4] = False
    assert torch.isnan(F.scaled_dot_product_attention(q, k, v, mask)).all()
    out, (gq, gk, gv) = _grads(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, mask),
                               q, k, v)
    ref = ops.scaled_dot_product_attention(q, k[:, :, :4], v[:, :, :4])
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
    assert torch.equal(gv[:, :, 4], torch.zeros_like(gv[:, :, 4]))
    assert torch.isfinite(gq).all() and torch.isfinite(gk).all()


def test_gradcheck_and_gradgradcheck():
    q, k, v = (t.requires_grad_() for t in _qkv(b=1, h=1, lq=2, lk=3, e=2, ev=2))
    mask = torch.tensor([[True, False, True], [False, False, False]])  # row 1 fully masked
    f = lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, mask)  # noqa: E731
    assert torch.autograd.gradcheck(f, (q, k, v))
    assert torch.autograd.gradgradcheck(f, (q, k, v))
    bias = torch.randn(1, 1, 2, 3, dtype=D, requires_grad=True)           # a learned bias
    assert torch.autograd.gradcheck(lambda q, b: ops.scaled_dot_product_attention(q, k, v, b),
                                    (q, bias))


def test_retain_graph_gives_the_same_gradient_twice():
    q, k, v = (t.requires_grad_() for t in _qkv())
    out = ops.scaled_dot_product_attention(q, k, v)
    g1 = torch.autograd.grad(out.sum(), q, retain_graph=True)[0]
    g2 = torch.autograd.grad(out.sum(), q)[0]
    assert torch.equal(g1, g2)


def test_dropout_masks_weights_and_keeps_fully_masked_rows_zero():
    q, k, v = _qkv()
    mask = torch.ones(2, 1, 3, 5, dtype=torch.bool)
    mask[1, :, 0] = False
    torch.manual_seed(0)
    a = ops.scaled_dot_product_attention(q, k, v, mask, dropout_p=0.5)
    torch.manual_seed(0)
    b = ops.scaled_dot_product_attention(q, k, v, mask, dropout_p=0.5)
    assert torch.equal(a, b) and not torch.allclose(a, ops.scaled_dot_product_attention(q, k, v, mask))
    assert torch.equal(a[1, :, 0], torch.zeros(2, 3, dtype=D))


def test_arguments_are_checked():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="not both"):
        ops.scaled_dot_product_attention(q, k, v, torch.ones(3, 5, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match="expected query"):
        ops.scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(TypeError, match="floating-point"):
        ops.scaled_dot_product_attention(q.long(), k, v)

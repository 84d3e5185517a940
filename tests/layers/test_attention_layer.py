"""AttentionLayer against nn.MultiheadAttention (copied projections, float64), on batches of mixed
lengths; the fully masked row; causal masks, the Mask port, Bilinear scoring."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import NetInitialize, NetPortGradient
from netgrad.layers import AttentionLayer


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
E, H = 6, 2


def _mha(seed=0):
    torch.manual_seed(seed)
    return torch.nn.MultiheadAttention(E, H, batch_first=True).to(D)


def _projected(mha, x, layer, lengths=None, causal=False):
    """nn.MultiheadAttention's computation with netgrad's AttentionLayer in the middle."""
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    q, k, v = F.linear(x, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv)
    o = layer.forward(k, v, q, key_lengths=lengths, query_lengths=lengths)
    return mha.out_proj(o)


def test_self_attention_equals_multihead_attention_with_key_padding():
    mha = _mha()
    layer = AttentionLayer(heads=H)
    x = torch.randn(3, 5, E, dtype=D)
    lengths = torch.tensor([5, 2, 4])
    pad = torch.arange(5)[None, :] >= lengths[:, None]
    ref, _ = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    ours = _projected(mha, x, layer, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(ours[b, :n], ref[b, :n], rtol=1e-12, atol=1e-13)


def test_causal_self_attention_equals_multihead_attention():
    mha = _mha(1)
    layer = AttentionLayer(heads=H, mask="Causal")
    x = torch.randn(2, 4, E, dtype=D)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    ref, _ = mha(x, x, x, attn_mask=causal, need_weights=False)
    torch.testing.assert_close(_projected(mha, x, layer), ref, rtol=1e-12, atol=1e-13)


def test_mixed_lengths_equal_each_sequence_alone_with_causal_mask():
    layer = AttentionLayer(heads=2, mask="Causal")
    x = torch.randn(3, 6, 4, dtype=D)
    lengths = torch.tensor([6, 3, 1])
    out = layer.forward(x, x, x, key_lengths=lengths, query_lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = layer.forward(x[b:b + 1, :n], x[b:b + 1, :n], x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], alone[0], rtol=1e-12, atol=1e-13)


def test_a_sequence_without_keys_gives_zero_and_finite_gradients_elsewhere():
    """The fully masked row: sequence 1 has no keys (length 0)."""
    mha = _mha()
    x = torch.randn(3, 4, E, dtype=D, requires_grad=True)
    key_lengths = torch.tensor([4, 0, 2])
    layer = AttentionLayer(heads=H)
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    q, k, v = F.linear(x, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv)
    o = layer.forward(k, v, q, key_lengths=key_lengths)
    assert torch.equal(o[1], torch.zeros(4, E, dtype=D))
    out = mha.out_proj(o)
    out.sum().backward()
    for p in (x.grad, mha.in_proj_weight.grad, mha.out_proj.weight.grad):
        assert torch.isfinite(p).all()
    # nothing of sequence 1 takes part: exact zeros; the others are what they are alone
    assert torch.equal(x.grad[1], torch.zeros(4, E, dtype=D))
    for b, n in ((0, 4), (2, 2)):
        xb = x[b:b + 1].detach()
        kb, vb = F.linear(xb[:, :n], wk, bk), F.linear(xb[:, :n], wv, bv)
        alone = mha.out_proj(layer.forward(kb, vb, F.linear(xb, wq, bq)))
        torch.testing.assert_close(out[b], alone[0], rtol=1e-12, atol=1e-13)


def test_the_mask_port_and_a_fully_masked_query():
    layer = AttentionLayer(mask_port=True, key=(3, 2), value=(3, 2), query=(2, 2))
    assert layer.input_names() == ("Key", "Value", "Query", "Mask")
    rng = np.random.default_rng(0)
    data = {"Key": rng.normal(size=(1, 3, 2)), "Value": rng.normal(size=(1, 3, 2)),
            "Query": rng.normal(size=(1, 2, 2)), "Mask": np.array([[[1, 0, 1], [0, 0, 0]]])}
    out = layer(data, precision="float64")
    assert np.array_equal(out[0, 1], [0.0, 0.0])
    k, v, q = (torch.tensor(data[p]) for p in ("Key", "Value", "Query"))
    ref = F.scaled_dot_product_attention(q[:, :1], k[:, [0, 2]], v[:, [0, 2]])
    np.testing.assert_allclose(out[0, 0], ref[0, 0].numpy(), rtol=1e-12)
    g = layer(data, NetPortGradient("Query"), precision="float64")
    assert np.array_equal(g[0, 1], [0.0, 0.0]) and np.isfinite(g).all()


def test_bilinear_scoring_and_a_single_query_vector():
    layer = NetInitialize(AttentionLayer("Bilinear", score_rescaling=None, key=(4, 3), value=(4, 2),
                                         query=(5,)), seed=0).to(D)
    assert layer.Weights.shape == (3, 5)
    k, v, q = torch.randn(2, 4, 3, dtype=D), torch.randn(2, 4, 2, dtype=D), torch.randn(2, 5, dtype=D)
    out = layer.forward(k, v, q)
    scores = torch.einsum("bjk,kq,bq->bj", k, layer.Weights, q)
    ref = torch.einsum("bj,bjv->bv", scores.softmax(-1), v)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
    assert layer.port_shape("Output") == (2,)


def test_gradcheck_with_padding():
    layer = AttentionLayer(heads=2, mask="Causal")
    x = torch.randn(2, 3, 4, dtype=D, requires_grad=True)
    lengths = torch.tensor([3, 2])
    assert torch.autograd.gradcheck(
        lambda x: layer.forward(x, x, x, key_lengths=lengths, query_lengths=lengths), (x,))


def test_options_and_shapes_are_checked():
    with pytest.raises(ng.NetValueError, match="did you mean 'Dot'"):
        AttentionLayer("dot")
    with pytest.raises(ng.NetValueError, match="mask"):
        AttentionLayer(mask="causal")
    with pytest.raises(ng.ShapeError, match="split into 4 heads"):
        AttentionLayer(heads=4, key=(3, 6), value=(3, 6), query=(3, 6))
    with pytest.raises(ng.ShapeError, match='"Dot" scoring needs queries of the key size 4'):
        AttentionLayer(key=(3, 4), value=(3, 2), query=(2, 5))
    with pytest.raises(ng.ShapeError, match="same length"):
        AttentionLayer(key=(3, 4), value=(2, 4), query=(2, 4))

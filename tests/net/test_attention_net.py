"""AttentionLayer(net): scores from a scoring net (Wolfram's AttentionLayer[net]) against explicit
loops on ragged batches (float64); a dot-product net equals "Dot" scoring; the fully masked
query; gradients, saving, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AttentionLayer, AttentionNetOperator, CatenateLayer, DotLayer,
                     ElementwiseLayer, LinearLayer, NetGraph, NetInitialize, NetPort,
                     NetPortGradient)


@pytest.fixture(autouse=True)
def _seed_every_test():
    torch.manual_seed(0)


D = torch.float64
F64 = {"precision": "float64"}
RNG = np.random.default_rng(0)


def _additive(k=4, q=3, seed=0):
    """Additive (Bahdanau) scoring: w · tanh(W [k; q] + b)."""
    return NetInitialize(NetGraph(
        {"cat": CatenateLayer(), "l1": LinearLayer(5), "t": ElementwiseLayer("Tanh"),
         "l2": LinearLayer(1)},
        [([NetPort("Input"), NetPort("Query")], "cat"), ("cat", "l1"), ("l1", "t"), ("t", "l2")],
        Input=k, Query=q), seed=seed)


def _dot(d):
    return NetGraph({"dot": DotLayer()}, [([NetPort("Input"), NetPort("Query")], "dot")],
                    Input=d, Query=d)


def _loop(score, keys, values, queries, allowed=None):
    """Each query over its keys, one pair at a time."""
    out = []
    for i, q in enumerate(queries):
        js = [j for j in range(len(keys)) if allowed is None or allowed(i, j)]
        if not js:
            out.append(np.zeros(values.shape[-1]))
            continue
        s = np.array([float(np.ravel(score({"Input": keys[j], "Query": q}, **F64))[0])
                      for j in js])
        w = np.exp(s - s.max())
        out.append((w / w.sum()) @ values[js])
    return np.array(out)


def _ragged(k=4, v=2, q=3, key_lengths=(4, 1, 3), query_lengths=(2, 3, 1)):
    keys = [RNG.normal(size=(n, k)) for n in key_lengths]
    return {"Key": keys, "Value": [RNG.normal(size=(n, v)) for n in key_lengths],
            "Query": [RNG.normal(size=(n, q)) for n in query_lengths]}


def test_additive_scoring_equals_the_explicit_loop_on_ragged_batches():
    score = _additive()
    att = AttentionLayer(score, key=("Varying", 4), value=("Varying", 2), query=("Varying", 3))
    assert isinstance(att, AttentionNetOperator) and att.port_shape("Output") == ("Varying", 2)
    data = _ragged()
    out = att(data, **F64)
    for b in range(3):
        ref = _loop(score, data["Key"][b], data["Value"][b], data["Query"][b])
        np.testing.assert_allclose(out[b], ref, rtol=1e-12, atol=1e-13)


def test_a_dot_product_net_equals_dot_scoring_with_heads_and_a_causal_mask():
    for heads, mask in ((1, None), (2, "Causal"), (2, ("Causal", 2))):
        by_net = AttentionLayer(_dot(6 // heads), heads=heads, mask=mask,
                                score_rescaling="DimensionSqrt")
        plain = AttentionLayer(heads=heads, mask=mask)
        x = torch.randn(3, 5, 6, dtype=D)
        lengths = torch.tensor([5, 2, 4])
        lens = {"Key": lengths, "Value": lengths, "Query": lengths}
        a = by_net.forward(x, x, x, lengths=lens)
        b = plain.forward(x, x, x, key_lengths=lengths, query_lengths=lengths)
        for i, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(a[i, :n], b[i, :n], rtol=1e-12, atol=1e-13)


def test_a_query_without_keys_is_zero_with_finite_gradients_and_others_unchanged():
    score = _additive()
    att = AttentionLayer(score, key=("Varying", 4), value=("Varying", 2), query=("Varying", 3))
    data = _ragged(key_lengths=(4, 0, 3))
    out = att(data, **F64)
    assert np.array_equal(out[1], np.zeros((3, 2)))
    for port in ("Key", "Value", "Query"):
        g = att(data, NetPortGradient(port), **F64)
        assert all(np.isfinite(gi).all() for gi in g), port
    assert np.array_equal(att(data, NetPortGradient("Query"), **F64)[1], np.zeros((3, 3)))
    gw = att(data, NetPortGradient(("ScoringNet", "l1", "Weights")), **F64)
    assert np.isfinite(gw).all()
    alone = {p: [data[p][b] for b in (0, 2)] for p in data}
    np.testing.assert_allclose(att(alone, NetPortGradient(("ScoringNet", "l1", "Weights")), **F64),
                               gw, rtol=1e-12, atol=1e-14)  # sequence 1 adds nothing
    for b in (0, 2):
        np.testing.assert_allclose(out[b], att({p: [data[p][b]] for p in data}, **F64)[0],
                                   rtol=1e-12, atol=1e-13)


def test_gradcheck_through_the_inputs_and_the_scoring_net():
    att = AttentionLayer(_additive(), mask="Causal").to(D)
    w = att["ScoringNet"]["l1"].Weights
    k = torch.randn(2, 3, 4, dtype=D, requires_grad=True)
    q = torch.randn(2, 3, 3, dtype=D, requires_grad=True)
    v = torch.randn(2, 3, 2, dtype=D, requires_grad=True)
    lengths = torch.tensor([3, 2])
    lens = {"Key": lengths, "Value": lengths, "Query": lengths}

    def f(k, v, q, w_):
        return torch.func.functional_call(att, {"vertices.ScoringNet.vertices.l1.Weights": w_},
                                          (k, v, q), {"lengths": lens})

    assert torch.autograd.gradcheck(f, (k, v, q, w.detach().clone().requires_grad_()))


def test_a_single_query_vector_and_the_mask_port():
    att = AttentionLayer(_additive(), mask_port=True, key=(3, 4), value=(3, 2), query=(2, 3))
    data = {"Key": RNG.normal(size=(1, 3, 4)), "Value": RNG.normal(size=(1, 3, 2)),
            "Query": RNG.normal(size=(1, 2, 3)), "Mask": np.array([[[1, 0, 1], [0, 0, 0]]])}
    out = att(data, **F64)
    ref = _loop(att["ScoringNet"], data["Key"][0], data["Value"][0], data["Query"][0],
                lambda i, j: data["Mask"][0, i, j] != 0)
    np.testing.assert_allclose(out[0], ref, rtol=1e-12, atol=1e-13)
    single = AttentionLayer(_additive(), key=(3, 4), value=(3, 2), query=(3,))
    assert single.port_shape("Output") == (2,)
    d1 = {"Key": data["Key"], "Value": data["Value"], "Query": data["Query"][:, 0]}
    np.testing.assert_allclose(single(d1, **F64)[0],
                               _loop(single["ScoringNet"], d1["Key"][0], d1["Value"][0],
                                     d1["Query"][:1])[0], rtol=1e-12)


def test_saved_and_loaded(tmp_path):
    att = AttentionLayer(_additive(), mask=("Causal", 2), key=("Varying", 4),
                         value=("Varying", 2), query=("Varying", 3))
    ng.save(att, tmp_path / "a.netgrad")
    back = ng.load(tmp_path / "a.netgrad")
    assert type(back) is AttentionNetOperator and str(back) == str(att)
    data = _ragged(query_lengths=(4, 1, 3))
    for a, b in zip(att(data, **F64), back(data, **F64)):
        np.testing.assert_array_equal(a, b)


def test_scoring_net_errors():
    with pytest.raises(ng.NetValueError, match='inputs "Input" .* and "Query"'):
        AttentionLayer(LinearLayer(1, input=3))
    wide = NetGraph({"cat": CatenateLayer(), "l": LinearLayer(2)},
                    [([NetPort("Input"), NetPort("Query")], "cat"), ("cat", "l")],
                    Input=4, Query=3)
    with pytest.raises(ng.ShapeError, match="a scalar"):
        AttentionLayer(wide, key=(3, 4), value=(3, 2), query=(2, 3))
    with pytest.raises(ng.NetValueError, match="mask"):
        AttentionLayer(_additive(), mask="causal")

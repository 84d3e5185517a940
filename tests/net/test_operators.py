"""The net operators against explicit loops (float64), with sequences of mixed lengths;
gradients by path, save/load, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (CatenateLayer, EmbeddingLayer, LinearLayer, LongShortTermMemoryLayer,
                     NetBidirectionalOperator, NetChain, NetFoldOperator, NetGANOperator, NetGraph,
                     NetInitialize, NetMapOperator, NetMapThreadOperator, NetNestOperator,
                     NetPairEmbeddingOperator, NetPort, NetPortGradient, SequenceBatch,
                     SequenceLastLayer, ThreadingLayer)


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


RNG = np.random.default_rng(0)
SEQS = [RNG.normal(size=(n, 2)) for n in (4, 1, 3)]
F64 = {"precision": "float64"}


def _mlp(seed=0, n=3, input=2):
    return NetInitialize(NetChain([LinearLayer(4), "Tanh", LinearLayer(n)], input=input), seed=seed)


def test_map_equals_a_loop_over_elements_and_padding_is_never_computed():
    inner = _mlp()
    op = NetMapOperator(inner, input=("Varying", 2))
    out = op(SEQS, **F64)
    for s, o in zip(SEQS, out):
        np.testing.assert_allclose(o, np.stack([inner(e, **F64) for e in s]), rtol=1e-12)
    seen = []
    h = inner.register_forward_hook(lambda m, a, y: seen.append(a[0].shape[0]))
    op(SEQS)
    h.remove()
    assert seen == [8]                         # the 8 valid elements, not 3 × 4 padded ones
    g = op(SEQS, NetPortGradient("Input"), **F64)
    for s, gi in zip(SEQS, g):
        np.testing.assert_allclose(gi, np.stack([inner(e, NetPortGradient("Input"), **F64)
                                                 for e in s]), rtol=1e-12)
    gw = op(SEQS, NetPortGradient(("Net", "0", "Weights")), **F64)
    total = sum(inner(e, NetPortGradient(("0", "Weights")), **F64) for s in SEQS for e in s)
    np.testing.assert_allclose(gw, total, rtol=1e-11)


def test_map_thread_pairs_elements_and_broadcasts_level_zero_inputs():
    net = NetInitialize(NetGraph({"t": ThreadingLayer(lambda a, b, c: a * b + c, n=3)}, [],
                                 Input1=2, Input2=2, Input3=2), seed=0)
    op = NetMapThreadOperator(net, {"Input3": 0}, Input1=("Varying", 2), Input2=("Varying", 2))
    assert op.port_shape("Input3") == (2,)
    b = [RNG.normal(size=s.shape) for s in SEQS]
    c = RNG.normal(size=(3, 2))
    out = op({"Input1": SEQS, "Input2": b, "Input3": c}, **F64)
    for i in range(3):
        np.testing.assert_allclose(out[i], SEQS[i] * b[i] + c[i], rtol=1e-12)
    with pytest.raises(ng.ShapeError, match=r'lengths \[4, 1, 3\] at port "Input1" and '
                                            r'\[4, 1, 2\] at port "Input2"'):
        op({"Input1": SEQS, "Input2": b[:2] + [b[2][:2]], "Input3": c})


def test_a_linear_layer_on_every_element_inside_a_chain():
    net = NetInitialize(NetChain([EmbeddingLayer(3, 7), NetMapOperator(LinearLayer(4)),
                                  LongShortTermMemoryLayer(2), SequenceLastLayer()],
                                 input=("Varying",)), seed=0)
    assert net[1].port_shape("Output") == ("Varying", 4)
    batch = net([[1, 2, 3], [4]], **F64)
    np.testing.assert_allclose(batch[1], net([4], **F64), rtol=1e-12)


def _cell(seed=0):
    cell = NetGraph({"cat": CatenateLayer(), "lin": LinearLayer(3), "t": "Tanh"},
                    [([NetPort("Input"), NetPort("State")], "cat", "lin", "t")], Input=2, State=3)
    return NetInitialize(cell, seed=seed)


def test_fold_equals_the_explicit_recurrence_and_stops_at_each_end():
    cell = _cell()
    fold = NetFoldOperator(cell, input=("Varying", 2))
    out = fold(SEQS, **F64)
    for s, o in zip(SEQS, out):
        state, states = np.zeros(3), []
        for e in s:
            state = cell({"Input": e, "State": state}, **F64)
            states.append(state)
        np.testing.assert_allclose(o, np.stack(states), rtol=1e-12)
    graph = NetGraph({"f": fold}, [(NetPort("S0"), NetPort("f", "State")),
                                   (NetPort("f", "State"), NetPort("Final"))], S0=3)
    res = graph({"Input": SEQS, "S0": np.ones((3, 3))}, **F64)
    alone = graph({"Input": SEQS[1], "S0": np.ones(3)}, **F64)
    np.testing.assert_allclose(res["Final"][1], alone["Final"], rtol=1e-12)
    g = fold(SEQS, NetPortGradient("Input"), **F64)
    np.testing.assert_allclose(g[1], fold(SEQS[1], NetPortGradient("Input"), **F64), rtol=1e-11)


def test_fold_of_a_tanh_cell_is_the_basic_recurrent_layer():
    """NetFoldOperator over tanh(W [x; s] + b) is BasicRecurrentLayer with W = [W_x | W_s]."""
    cell = _cell(seed=4)
    fold = NetFoldOperator(cell, input=("Varying", 2))
    w, b = cell["lin"].Weights.detach(), cell["lin"].Biases.detach()
    rnn = ng.BasicRecurrentLayer(3, input=("Varying", 2))
    rnn.set_array("InputWeights", w[:, :2])
    rnn.set_array("StateWeights", w[:, 2:])
    rnn.set_array("Biases", b)
    for f, r in zip(fold(SEQS, **F64), rnn(SEQS, **F64)):
        np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-14)
    gf = fold(SEQS, NetPortGradient("Input"), **F64)
    gr = rnn(SEQS, NetPortGradient("Input"), **F64)
    for f, r in zip(gf, gr):
        np.testing.assert_allclose(f, r, rtol=1e-11, atol=1e-13)


def test_nest_applies_the_net_n_times():
    inner = _mlp(n=2)
    nest = NetNestOperator(inner, 3, input=2)
    x = RNG.normal(size=(4, 2))
    np.testing.assert_allclose(nest(x, **F64), inner(inner(inner(x, **F64), **F64), **F64),
                               rtol=1e-12)
    np.testing.assert_allclose(NetNestOperator(inner, 0, input=2)(x, **F64), x)
    with pytest.raises(ng.ShapeError, match="must have the input's shape"):
        NetNestOperator(_mlp(n=3), 2, input=2)


def test_bidirectional_reverses_each_sequence_within_its_length():
    fwd = NetInitialize(LongShortTermMemoryLayer(3, input=("Varying", 2)), seed=0)
    bwd = NetInitialize(LongShortTermMemoryLayer(2, input=("Varying", 2)), seed=1)
    bi = NetBidirectionalOperator(fwd, bwd)
    assert bi.port_shape("Output") == ("Varying", 5)
    out = bi(SEQS, **F64)
    for s, o in zip(SEQS, out):
        f = fwd(s, **F64)
        b = bwd(s[::-1].copy(), **F64)[::-1]
        np.testing.assert_allclose(o, np.concatenate([f, b], -1), rtol=1e-12)
    other = NetInitialize(LongShortTermMemoryLayer(3, input=("Varying", 2)), seed=2)
    total = NetBidirectionalOperator(fwd, other, "Total")
    assert total.port_shape("Output") == ("Varying", 3)
    copied = NetBidirectionalOperator(LongShortTermMemoryLayer(3, input=("Varying", 2)))
    names = [p for p, _, _ in copied.named_arrays()]
    assert ("Forward", "ForgetGateBiases") in names and ("Backward", "ForgetGateBiases") in names
    assert copied["Forward"] is not copied["Backward"]


def test_pair_embedding_distance_and_its_gradient_at_equal_inputs():
    emb = _mlp(n=3)
    pair = NetPairEmbeddingOperator(emb, input=2)
    a, b = RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    d = pair({"Input1": a, "Input2": b}, **F64)
    np.testing.assert_allclose(d, np.linalg.norm(emb(a, **F64) - emb(b, **F64), axis=-1), rtol=1e-12)
    g = pair({"Input1": a, "Input2": a}, NetPortGradient(ng.All), **F64)
    assert all(np.isfinite(v).all() and not np.any(v) for v in g.values())  # exactly 0, no NaN
    cos = NetPairEmbeddingOperator(emb, "CosineDistance", input=2)
    e1, e2 = emb(a, **F64), emb(b, **F64)
    ref = 1 - (e1 * e2).sum(-1) / np.linalg.norm(e1, axis=-1) / np.linalg.norm(e2, axis=-1)
    np.testing.assert_allclose(cos({"Input1": a, "Input2": b}, **F64), ref, rtol=1e-12)
    seq = NetPairEmbeddingOperator(NetChain([LongShortTermMemoryLayer(3), SequenceLastLayer()]),
                                   input=("Varying", 2))
    seq = NetInitialize(seq, seed=0)
    d = seq({"Input1": SEQS, "Input2": SEQS[::-1]}, **F64)
    alone = seq({"Input1": SEQS[1], "Input2": SEQS[1]}, **F64)
    assert d[1] == 0.0 and alone == 0.0


def test_gan_losses():
    gen = NetInitialize(NetChain([LinearLayer(4), "Tanh", LinearLayer(2)], input=3), seed=0)
    disc = NetInitialize(NetChain([LinearLayer(4), "Tanh", LinearLayer(1), "LogisticSigmoid"],
                                  input=2), seed=1)
    gan = NetGANOperator(gen, disc)
    assert gan.input_names() == ("Latent", "Sample") and gan.port_shape("Latent") == (3,)
    z, x = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    out = gan({"Latent": z, "Sample": x}, **F64)
    fake = gen(z, **F64)
    d_fake, d_real = disc(fake, **F64)[:, 0], disc(x, **F64)[:, 0]
    np.testing.assert_allclose(out["Loss"], -np.log(d_real) - np.log(1 - d_fake), rtol=1e-12)
    np.testing.assert_allclose(out["GeneratorLoss"], -np.log(d_fake), rtol=1e-12)
    np.testing.assert_allclose(out["Generated"], fake, rtol=1e-12)
    with pytest.raises(ng.ShapeError, match="one probability per sample"):
        NetGANOperator(gen, NetInitialize(NetChain([LinearLayer(3)], input=2), seed=0))


@pytest.mark.parametrize("make", [
    lambda: NetMapOperator(_mlp(), input=("Varying", 2)),
    lambda: NetFoldOperator(_cell(), input=("Varying", 2)),
    lambda: NetBidirectionalOperator(NetInitialize(LongShortTermMemoryLayer(2, input=("Varying", 2)),
                                                   seed=0)),
    lambda: NetChain([NetNestOperator(_mlp(n=2), 2, input=2)]),
    lambda: NetMapThreadOperator(_mlp(), Input=("Varying", 2)),
])
def test_operators_save_and_load(make, tmp_path):
    net = NetInitialize(make(), seed=3)
    path = tmp_path / "op.netgrad"
    ng.save(net, path)
    back = ng.load(path)
    assert type(back) is type(net) and str(back) == str(net)
    data = SEQS if ng.NetNestOperator not in {type(m) for m in net.modules()} else np.ones((2, 2))
    a, b = net(data, **F64), back(data, **F64)
    for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_array_equal(x, y)


def test_operator_errors():
    with pytest.raises(ng.NetValueError, match="one input port"):
        NetMapOperator(NetGraph({"t": ThreadingLayer("Plus")}, []))
    with pytest.raises(ng.NetValueError, match='inputs "Input" and "State"'):
        NetFoldOperator(_mlp())
    with pytest.raises(ng.NetKeyError, match="no input port 'X'"):
        NetMapThreadOperator(_mlp(), {"X": 0})
    with pytest.raises(ng.NetValueError, match="aggregation"):
        NetBidirectionalOperator(LongShortTermMemoryLayer(2), aggregation="Max")
    sb = SequenceBatch(torch.zeros(2, 3, 2), [3, 1])
    assert NetMapOperator(_mlp(), input=("Varying", 2))(sb).lengths.tolist() == [3, 1]

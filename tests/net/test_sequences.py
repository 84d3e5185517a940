"""Sequences of different lengths through nets: data forms in and out, lengths carried through,
NetPortGradient per sequence with exact zeros on padding, shapes in summaries, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AggregationLayer, AttentionLayer, CrossEntropyLossLayer, EmbeddingLayer,
                     LinearLayer, LongShortTermMemoryLayer, NetChain, NetGraph, NetInitialize,
                     NetPort, NetPortGradient, SequenceBatch, SequenceLastLayer, SoftmaxLayer,
                     ThreadingLayer)


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


RNG = np.random.default_rng(0)
SEQS = [RNG.normal(size=(n, 3)) for n in (5, 2, 4)]


def _encoder(seed=0):
    """Sequence of 3-vectors → LSTM → self-attention (causal) → mean over the sequence."""
    net = NetGraph({"lstm": LongShortTermMemoryLayer(4), "att": AttentionLayer(heads=2, mask="Causal"),
                    "mean": AggregationLayer("Mean", 1)},
                   [(NetPort("Input"), "lstm"), ("lstm", NetPort("att", "Key")),
                    ("lstm", NetPort("att", "Value")), ("lstm", NetPort("att", "Query")),
                    ("att", "mean")], Input=("Varying", 3))
    return NetInitialize(net, seed=seed)


def test_a_batch_of_different_lengths_equals_each_sequence_alone():
    net = _encoder()
    batch = net(SEQS, precision="float64")
    assert batch.shape == (3, 4)
    for i, s in enumerate(SEQS):
        np.testing.assert_allclose(batch[i], net(s, precision="float64"), rtol=1e-11, atol=1e-13)


def test_sequence_outputs_come_back_per_sequence_in_the_form_given():
    net = NetInitialize(NetChain([LongShortTermMemoryLayer(2)], input=("Varying", 3)), seed=0)
    out = net(SEQS)
    assert isinstance(out, list) and [o.shape for o in out] == [(5, 2), (2, 2), (4, 2)]
    assert net(SEQS[1]).shape == (2, 2)                                   # one sequence
    equal = np.stack([SEQS[0], SEQS[0]])
    assert net(equal).shape == (2, 5, 2)                                   # equal lengths
    padded = torch.zeros(3, 5, 3)
    for i, s in enumerate(SEQS):
        padded[i, :len(s)] = torch.tensor(s)
    sb = net(SequenceBatch(padded, [5, 2, 4]))
    assert isinstance(sb, SequenceBatch) and sb.lengths.tolist() == [5, 2, 4]
    assert torch.equal(sb.data[1, 2:], torch.zeros(3, 2))                  # padding is 0
    for i in range(3):
        np.testing.assert_allclose(sb[i].detach().numpy(), out[i], rtol=1e-5, atol=1e-6)
    tensors = net([torch.tensor(s, dtype=torch.float32) for s in SEQS])   # tensors in, out
    assert all(isinstance(t, torch.Tensor) for t in tensors)


def test_input_gradients_per_sequence_with_exact_zeros_on_padding():
    net = _encoder()
    grads = net(SEQS, NetPortGradient("Input"), precision="float64")
    assert [g.shape for g in grads] == [(5, 3), (2, 3), (4, 3)]
    for i, s in enumerate(SEQS):
        alone = net(s, NetPortGradient("Input"), precision="float64")
        np.testing.assert_allclose(grads[i], alone, rtol=1e-10, atol=1e-12)
    padded = torch.zeros(3, 6, 3, dtype=torch.float64)
    for i, s in enumerate(SEQS):
        padded[i, :len(s)] = torch.tensor(s)
        padded[i, len(s):] = 1e6                                            # garbage padding
    g = net(SequenceBatch(padded, [5, 2, 4]), NetPortGradient("Input"), precision="float64")
    assert torch.equal(g.data[1, 2:], torch.zeros(4, 3, dtype=torch.float64))
    assert torch.equal(g.data[0, 5:], torch.zeros(1, 3, dtype=torch.float64))
    np.testing.assert_allclose(g[2].numpy(), grads[2], rtol=1e-10, atol=1e-12)


def test_array_gradients_and_imposed_gradients_per_sequence():
    net = NetInitialize(NetChain([LongShortTermMemoryLayer(2)], input=("Varying", 3)), seed=1)
    gw = net(SEQS, NetPortGradient(("0", "InputGateInputWeights")), precision="float64")
    total = sum(net(s, NetPortGradient(("0", "InputGateInputWeights")), precision="float64")
                for s in SEQS)
    np.testing.assert_allclose(gw, total, rtol=1e-10)
    imposed = [RNG.normal(size=(len(s), 2)) for s in SEQS]
    vjp = net({"Input": SEQS, NetPortGradient("Output"): imposed}, NetPortGradient("Input"),
              precision="float64")
    for i, s in enumerate(SEQS):
        one = net({"Input": s, NetPortGradient("Output"): imposed[i]}, NetPortGradient("Input"),
                  precision="float64")
        np.testing.assert_allclose(vjp[i], one, rtol=1e-10, atol=1e-12)
    with pytest.raises(ng.ShapeError, match=r"got lengths \[5, 2, 3\]; the outputs have lengths \[5, 2, 4\]"):
        net({"Input": SEQS, NetPortGradient("Output"): imposed[:2] + [imposed[2][:3]]},
            NetPortGradient("Input"))


def test_token_sequences_through_an_embedding_and_a_loss_over_positions():
    net = NetInitialize(NetGraph(
        {"emb": EmbeddingLayer(4, 6), "lstm": LongShortTermMemoryLayer(5),
         "lin": ng.ElementwiseLayer("Tanh"), "soft": SoftmaxLayer(), "loss": CrossEntropyLossLayer()},
        [("emb", "lstm", "lin", "soft", "loss")], Input=("Varying",)), seed=0)
    tokens = [[1, 2, 3], [4, 5], [0, 1, 2, 3, 4]]
    targets = [[2, 3, 4], [0, 1], [1, 2, 3, 4, 0]]
    loss = net({"Input": tokens, "Target": targets}, precision="float64")
    assert loss.shape == (3,)
    for i in range(3):
        alone = net({"Input": tokens[i], "Target": targets[i]}, precision="float64")
        np.testing.assert_allclose(loss[i], alone, rtol=1e-12)


def test_shapes_summary_and_gradient_check_on_a_sequence_net():
    net = NetInitialize(NetChain([EmbeddingLayer(3, 5), LongShortTermMemoryLayer(4),
                                  SequenceLastLayer(), LinearLayer(2)], input="Varying"), seed=0)
    text = str(net)
    assert "Input (Varying,) → Output (2,)" in text and "Output (Varying, 4)" in text
    assert net.port_shape("Input") == ("Varying",)
    report = ng.check_gradients(_encoder(), SEQS[:2])
    assert report.ok, str(report)


def test_errors_name_the_port_and_the_lengths():
    add = NetInitialize(NetGraph({"t": ThreadingLayer("Plus")}, [],
                                 Input1=("Varying", 3), Input2=("Varying", 3)), seed=0)
    with pytest.raises(ng.ShapeError, match=r'lengths \[5, 2\] at port "Input1" and \[5, 3\] at '
                                            r'port "Input2"'):
        add({"Input1": SEQS[:2], "Input2": [SEQS[0], SEQS[2][:3]]})
    net = NetInitialize(NetChain([LongShortTermMemoryLayer(2)], input=("Varying", 3)), seed=0)
    with pytest.raises(ng.ShapeError, match=r'port "Input".*got sequence 1 of shape \(2, 4\)'):
        net([SEQS[0], np.zeros((2, 4))])
    with pytest.raises(ng.ShapeError, match="does not take a sequence of varying length.*NetMapOperator"):
        NetChain([LinearLayer(2)], input=("Varying", 3))
    with pytest.raises(ng.NetValueError, match="got sequence 1 of length 0"):
        NetChain([SequenceLastLayer()], input=("Varying", 3))([SEQS[0], np.zeros((0, 3))])


def test_a_net_of_unknown_input_shape_takes_a_ragged_batch():
    net = NetInitialize(NetChain([EmbeddingLayer(3, 9), SequenceLastLayer()]), seed=0)
    assert net.port_shape("Input") is None
    out = net([[1, 2, 3], [4, 5]])
    weights = net[0].Weights.detach().numpy()
    np.testing.assert_array_equal(out, weights[[3, 5]])


def test_pytorch_style_with_lengths():
    net = _encoder()
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 3])
    out = net(x, lengths={"Input": lengths})
    torch.testing.assert_close(out[1], net.forward(x[1:, :3])[0], rtol=1e-5, atol=1e-6)
    outs, lens = net.run_sequences({"Input": x}, {"Input": lengths})
    assert lens == {} and outs["Output"].shape == (2, 4)

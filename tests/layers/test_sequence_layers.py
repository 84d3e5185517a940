"""SequenceLast/Most/Rest/Reverse/Indices layers and CTCLossLayer on padded batches of mixed
lengths: each sequence's own length is honoured, gradients reach only what an output reads."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import NetPortGradient
from netgrad.layers import (CTCLossLayer, SequenceIndicesLayer, SequenceLastLayer,
                            SequenceMostLayer, SequenceRestLayer, SequenceReverseLayer)


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
X = torch.arange(3 * 5 * 2, dtype=D).reshape(3, 5, 2)
LENGTHS = torch.tensor([5, 2, 3])


def test_last_is_the_last_valid_element_and_only_it_gets_gradient():
    x = X.clone().requires_grad_()
    out = SequenceLastLayer().forward(x, lengths=LENGTHS)
    assert torch.equal(out, X[[0, 1, 2], [4, 1, 2]])
    out.sum().backward()
    expected = torch.zeros_like(X)
    expected[[0, 1, 2], [4, 1, 2]] = 1.0
    assert torch.equal(x.grad, expected)


def test_most_rest_reverse_with_lengths():
    for layer, lengths_out, seqs in (
            (SequenceMostLayer(), [4, 1, 2], lambda s: s[:-1]),
            (SequenceRestLayer(), [4, 1, 2], lambda s: s[1:]),
            (SequenceReverseLayer(), [5, 2, 3], lambda s: s.flip(0))):
        outs, lens = layer.run_sequences({"Input": X}, {"Input": LENGTHS})
        assert lens["Output"].tolist() == lengths_out
        for b, n in enumerate(LENGTHS.tolist()):
            assert torch.equal(outs["Output"][b, :lengths_out[b]], seqs(X[b, :n]))


def test_reverse_keeps_padding_in_place_and_its_gradient_is_a_permutation():
    x = X.clone().requires_grad_()
    out = SequenceReverseLayer().forward(x, lengths=LENGTHS)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    back = SequenceReverseLayer().forward(weights, lengths=LENGTHS)
    assert torch.equal(x.grad, back)


def test_indices_are_zero_based_and_clipped():
    out = SequenceIndicesLayer(3).forward(X, lengths=LENGTHS)
    assert out.dtype == torch.long
    assert out.tolist() == [[0, 1, 2, 2, 2], [0, 1, 0, 0, 0], [0, 1, 2, 0, 0]]


def test_fixed_length_shapes_and_evaluation():
    assert SequenceMostLayer(input=(4, 3)).port_shape("Output") == (3, 3)
    assert SequenceLastLayer(input=("Varying", 3)).port_shape("Output") == (3,)
    assert SequenceIndicesLayer(input=(4, 2)).port_shape("Output") == (4,)
    x = np.arange(8.0).reshape(1, 4, 2)
    assert np.array_equal(SequenceLastLayer(input=(4, 2))(x), [[6.0, 7.0]])
    g = SequenceRestLayer(input=(4, 2))(x, NetPortGradient("Input"))
    assert np.array_equal(g[0, 0], [0.0, 0.0]) and np.array_equal(g[0, 1:], np.ones((3, 2)))


def test_empty_sequences_are_reported_with_their_position():
    with pytest.raises(ng.NetValueError, match="got sequence 1 of length 0"):
        SequenceLastLayer().forward(X, lengths=torch.tensor([5, 0, 3]))
    with pytest.raises(ng.ShapeError, match="non-empty"):
        SequenceMostLayer(input=(0, 2))


# ----------------------------------------------------------------------------- CTC
def test_ctc_loss_layer_equals_torch_with_the_last_class_as_blank():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 4, dtype=D)
    probs = logits.softmax(-1)
    targets = torch.tensor([[0, 1, 0], [2, 2, 0], [1, 0, 0]])
    il, tl = torch.tensor([6, 4, 5]), torch.tensor([3, 2, 1])
    out, _ = CTCLossLayer().run_sequences({"Input": probs, "Target": targets},
                                          {"Input": il, "Target": tl})
    ref = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, il, tl, blank=3,
                     reduction="none")
    torch.testing.assert_close(out["Loss"], ref, rtol=1e-12, atol=1e-12)


def test_ctc_loss_layer_gradient_with_respect_to_probabilities_is_the_derivative():
    probs = torch.softmax(torch.randn(2, 4, 3, dtype=D), -1).requires_grad_()
    layer = CTCLossLayer()
    f = lambda p: layer.forward(p, torch.tensor([[0, 1], [1, 1]]),  # noqa: E731
                                input_lengths=torch.tensor([4, 4]), target_lengths=torch.tensor([2, 2]))
    assert torch.autograd.gradcheck(f, (probs,))


def test_ctc_loss_layer_checks_targets_and_handles_impossible_alignments():
    probs = torch.softmax(torch.randn(1, 3, 3, dtype=D), -1)
    layer = CTCLossLayer(zero_infinity=True)
    with pytest.raises(ng.NetValueError, match="class 2 is the blank.*got 2 at position 1"):
        layer.forward(probs, torch.tensor([[0, 2]]))
    p = probs.clone().requires_grad_()
    loss = layer.forward(p, torch.tensor([[1, 1, 1]]))      # needs 5 steps, has 3
    loss.sum().backward()
    assert loss.item() == 0.0 and torch.equal(p.grad, torch.zeros_like(p))
    assert CTCLossLayer(input=("Varying", 4)).port_shape("Target") == ("Varying",)

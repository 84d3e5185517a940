"""Issue 13 item by item, where the other sequence tests leave a gap: Wolfram's port and array
names of the recurrent layers, gradcheck and dropout of the GRU and the basic RNN layers, the
local causal attention window ("Causal", n), and the CTC loss against nn.CTCLoss on batches of
mixed lengths with empty targets and impossible alignments (zero_infinity)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import NetPortGradient
from netgrad.layers import (AttentionLayer, BasicRecurrentLayer, CTCLossLayer,
                            GatedRecurrentLayer, LongShortTermMemoryLayer)
from netgrad import ops


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradcheck's draws too)."""
    torch.manual_seed(0)


D = torch.float64
K, N = 3, 4


# ----------------------------------------------------------------------------- recurrent layers
WOLFRAM = {
    LongShortTermMemoryLayer: ({"Input", "State", "CellState"}, {"Output", "State", "CellState"},
                               [f"{g}{a}" for g in ("InputGate", "OutputGate", "ForgetGate",
                                                     "MemoryGate")
                                for a in ("InputWeights", "StateWeights", "Biases")]),
    GatedRecurrentLayer: ({"Input", "State"}, {"Output", "State"},
                          [f"{g}{a}" for g in ("InputGate", "ResetGate", "MemoryGate")
                           for a in ("InputWeights", "StateWeights", "Biases")]),
    BasicRecurrentLayer: ({"Input", "State"}, {"Output", "State"},
                          ["InputWeights", "StateWeights", "Biases"]),
}


@pytest.mark.parametrize("cls", WOLFRAM, ids=lambda c: c.__name__)
def test_wolfram_port_and_array_names(cls):
    ins, outs, arrays = WOLFRAM[cls]
    layer = ng.NetInitialize(cls(N, input=("Varying", K)), seed=0)
    assert set(layer.input_names()) | set(layer.optional_input_ports) == ins
    assert set(layer.output_names()) | set(layer.optional_output_ports) == outs
    assert list(layer.array_names) == arrays
    for name in arrays:
        want = (N, K) if name.endswith("InputWeights") else \
            (N, N) if name.endswith("StateWeights") else (N,)
        assert tuple(getattr(layer, name).shape) == want, name
    assert layer.port_shape("Output") == ("Varying", N)


def _layer(cls, dropout=None, seed=0):
    return ng.NetInitialize(cls(N, input=("Varying", K), dropout=dropout), seed=seed).to(D)


@pytest.mark.parametrize("cls", [GatedRecurrentLayer, BasicRecurrentLayer],
                         ids=lambda c: c.__name__)
def test_gradcheck_of_the_gru_and_rnn_layers_on_mixed_lengths_with_an_initial_state(cls):
    layer = _layer(cls)
    x = torch.randn(3, 4, K, dtype=D, requires_grad=True)
    s0 = torch.randn(3, N, dtype=D, requires_grad=True)
    w = layer.StateWeights if cls is BasicRecurrentLayer else layer.ResetGateStateWeights
    name = "StateWeights" if cls is BasicRecurrentLayer else "ResetGateStateWeights"
    lengths = torch.tensor([4, 1, 3])

    def f(x, s0, w_):
        out = torch.func.functional_call(layer, {name: w_}, (x, s0), {"lengths": lengths})
        return out["Output"], out["State"]

    assert torch.autograd.gradcheck(f, (x, s0, w.detach().clone().requires_grad_()))


@pytest.mark.parametrize("cls", [GatedRecurrentLayer, BasicRecurrentLayer],
                         ids=lambda c: c.__name__)
def test_gru_and_rnn_dropout_only_in_training_and_each_kind_changes_the_output(cls):
    x = torch.randn(2, 5, K, dtype=D)
    plain = _layer(cls).forward(x)["Output"]
    kinds = ["VariationalInput", "VariationalState", "VariationalWeights"]
    kinds += ["StateUpdate"] if cls is GatedRecurrentLayer else []
    for kind in kinds:
        dropped = _layer(cls, {kind: 0.5})
        assert torch.equal(dropped.eval().forward(x)["Output"], plain)
        torch.manual_seed(1)
        a = dropped.train().forward(x)["Output"]
        torch.manual_seed(1)
        b = dropped.forward(x)["Output"]
        assert torch.equal(a, b) and not torch.allclose(a, plain), kind


@pytest.mark.parametrize("cls", WOLFRAM, ids=lambda c: c.__name__)
def test_dropout_in_training_still_stops_at_each_end(cls):
    """The dropout paths (the composition) keep each sequence's final state at its own end."""
    layer = _layer(cls, 0.3).train()
    x = torch.randn(3, 6, K, dtype=D)
    lengths = torch.tensor([6, 2, 4])
    torch.manual_seed(5)
    out = layer.forward(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out["State"][b], out["Output"][b, n - 1], rtol=0, atol=0)
        assert torch.equal(out["Output"][b, n:], torch.zeros(6 - n, N, dtype=D))


# ----------------------------------------------------------------------------- attention window
def _band_loop(k, v, q, window, scale):
    """Query i over keys max(0, i - window + 1) … i, one query at a time."""
    out = torch.zeros(q.shape[0], v.shape[-1], dtype=q.dtype)
    for i in range(q.shape[0]):
        lo = max(0, i - window + 1)
        w = torch.softmax(k[lo:i + 1] @ q[i] * scale, 0)
        out[i] = w @ v[lo:i + 1]
    return out


def test_a_local_causal_window_equals_the_explicit_loop_on_mixed_lengths():
    layer = AttentionLayer(mask=("Causal", 2))
    x = torch.randn(3, 6, 4, dtype=D, requires_grad=True)
    lengths = torch.tensor([6, 3, 1])
    out = layer.forward(x, x, x, key_lengths=lengths, query_lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        xb = x[b, :n].detach()
        torch.testing.assert_close(out[b, :n], _band_loop(xb, xb, xb, 2, 0.5), rtol=1e-12,
                                   atol=1e-13)
    # no sequence is padded: the window alone (without lengths) gives the same
    full = layer.forward(x[:1], x[:1], x[:1])
    torch.testing.assert_close(full[0], out[0], rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(
        lambda x: layer.forward(x, x, x, key_lengths=lengths, query_lengths=lengths), (x,))


def test_a_local_causal_window_equals_multihead_attention_with_a_band_mask():
    torch.manual_seed(2)
    mha = torch.nn.MultiheadAttention(6, 2, batch_first=True).to(D)
    x = torch.randn(2, 5, 6, dtype=D)
    i = torch.arange(5)
    band = (i[None, :] > i[:, None]) | (i[None, :] <= i[:, None] - 3)  # True: not allowed
    ref, _ = mha(x, x, x, attn_mask=band, need_weights=False)
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    o = AttentionLayer(heads=2, mask=("Causal", 3)).forward(
        F.linear(x, wk, bk), F.linear(x, wv, bv), F.linear(x, wq, bq))
    torch.testing.assert_close(mha.out_proj(o), ref, rtol=1e-12, atol=1e-13)


def test_a_local_causal_window_is_saved_and_checked(tmp_path):
    layer = AttentionLayer(mask=("Causal", 2), key=("Varying", 4), value=("Varying", 4),
                           query=("Varying", 4))
    ng.save(layer, tmp_path / "a.netgrad")
    back = ng.load(tmp_path / "a.netgrad")
    assert back.mask == "Causal" and back.window == 2
    seqs = [np.random.default_rng(0).normal(size=(n, 4)) for n in (3, 5)]
    data = {"Key": seqs, "Value": seqs, "Query": seqs}
    for a, b in zip(layer(data, precision="float64"), back(data, precision="float64")):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ng.NetValueError, match=r'\("Causal", n\) with a window n >= 1'):
        AttentionLayer(mask=("Causal", 0))
    with pytest.raises(ng.NetValueError, match=r'or \("Causal", n\)'):
        AttentionLayer(mask="Local")


# ----------------------------------------------------------------------------- CTC vs nn.CTCLoss
C = 5
BLANK = C - 1                       # Wolfram's CTCLossLayer: the last class is the blank


def _ctc_data():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, C, generator=g, dtype=D)
    targets = torch.tensor([[1, 2, 0, 0], [1, 1, 3, 0], [0, 0, 0, 0], [2, 2, 2, 1], [3, 0, 0, 0]])
    #   sequence 2: an empty target; sequence 3: 2,2,2,1 needs 6 steps and has 4 (impossible)
    return logits, targets, torch.tensor([7, 5, 3, 4, 1]), torch.tensor([2, 3, 0, 4, 1])


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_equals_nn_ctcloss_on_each_sequence_alone(zero_infinity):
    logits, targets, il, tl = _ctc_data()
    leaf = logits.clone().requires_grad_()
    ours = ops.ctc_loss(leaf.log_softmax(-1), targets, il, tl, blank=BLANK,
                        zero_infinity=zero_infinity)
    (g,) = torch.autograd.grad(torch.where(torch.isinf(ours), 0.0, ours).sum(), leaf)
    ref_fn = torch.nn.CTCLoss(blank=BLANK, reduction="none", zero_infinity=True)
    for b in range(5):
        n, m = int(il[b]), int(tl[b])
        xb = logits[b:b + 1, :n].clone().requires_grad_()
        ref = ref_fn(xb.log_softmax(-1).transpose(0, 1), targets[b:b + 1, :m], [n], [m])
        (gb,) = torch.autograd.grad(ref.sum(), xb)
        if b == 3:   # impossible: +inf (or 0), gradient 0, as torch's zero_infinity documents
            assert ours[b] == (0.0 if zero_infinity else math.inf) and ref.item() == 0.0
        else:
            torch.testing.assert_close(ours[b], ref[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(g[b, :n], gb[0], rtol=1e-10, atol=1e-12)
        assert torch.equal(g[b, n:], torch.zeros_like(g[b, n:]))
    assert torch.equal(g[3], torch.zeros_like(g[3]))


def test_ctc_layer_on_ragged_sequences_with_an_empty_target_and_an_impossible_one():
    logits, targets, il, tl = _ctc_data()
    probs = logits.softmax(-1)
    seqs = [probs[b, :int(il[b])].numpy() for b in range(5)]
    tgts = [targets[b, :int(tl[b])].numpy() for b in range(5)]
    layer = CTCLossLayer(zero_infinity=True, input=("Varying", C))
    data = {"Input": seqs, "Target": tgts}
    loss = layer(data, precision="float64")
    ref = torch.nn.CTCLoss(blank=BLANK, reduction="none", zero_infinity=True)(
        logits.log_softmax(-1).transpose(0, 1), targets, il, tl)
    np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12, atol=1e-12)
    g = layer(data, NetPortGradient("Input"), precision="float64")
    assert [gi.shape for gi in g] == [s.shape for s in seqs]
    assert all(np.isfinite(gi).all() for gi in g) and np.array_equal(g[3], np.zeros((4, C)))


def test_pytorch_style_call_with_tensors_by_position_and_lengths():
    """layer(x, state, lengths=n) runs forward with both (the keywords were once dropped)."""
    layer = _layer(GatedRecurrentLayer)
    x, s0 = torch.randn(2, 4, K, dtype=D), torch.randn(2, N, dtype=D)
    lengths = torch.tensor([4, 2])
    out = layer(x, s0, lengths=lengths)
    ref = layer.forward(x, s0, lengths=lengths)
    assert torch.equal(out["Output"], ref["Output"]) and torch.equal(out["State"], ref["State"])

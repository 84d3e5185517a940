"""LongShortTermMemoryLayer, GatedRecurrentLayer, BasicRecurrentLayer against nn.LSTM, nn.GRU and
nn.RNN with copied weights (float64), on batches of mixed lengths; state ports; dropout."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import NetGraph, NetInitialize, NetPort, NetPortGradient
from netgrad.layers import BasicRecurrentLayer, GatedRecurrentLayer, LongShortTermMemoryLayer


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
K, N = 3, 4


def _lstm_pair(seed=0, input=("Varying", K)):
    torch.manual_seed(seed)
    ref = torch.nn.LSTM(K, N, batch_first=True).to(D)
    layer = LongShortTermMemoryLayer(N, input=input)
    w_ih, w_hh = ref.weight_ih_l0.detach().chunk(4), ref.weight_hh_l0.detach().chunk(4)
    b = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().chunk(4)
    for i, gate in enumerate(("InputGate", "ForgetGate", "MemoryGate", "OutputGate")):  # i f g o
        layer.set_array(f"{gate}InputWeights", w_ih[i])
        layer.set_array(f"{gate}StateWeights", w_hh[i])
        layer.set_array(f"{gate}Biases", b[i])
    return ref, layer.to(D)


def _gru_pair(seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.GRU(K, N, batch_first=True).to(D)
    with torch.no_grad():
        ref.bias_hh_l0[2 * N:] = 0.0          # Wolfram's GRU has no bias inside r ⊙ (W_ms s)
    layer = GatedRecurrentLayer(N, input=("Varying", K))
    w_ih, w_hh = ref.weight_ih_l0.detach().chunk(3), ref.weight_hh_l0.detach().chunk(3)
    b = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().chunk(3)
    for i, gate in enumerate(("ResetGate", "InputGate", "MemoryGate")):  # torch: r, z, n
        layer.set_array(f"{gate}InputWeights", w_ih[i])
        layer.set_array(f"{gate}StateWeights", w_hh[i])
        layer.set_array(f"{gate}Biases", b[i])
    return ref, layer.to(D)


def _rnn_pair(seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.RNN(K, N, batch_first=True).to(D)
    layer = BasicRecurrentLayer(N, input=("Varying", K))
    layer.set_array("InputWeights", ref.weight_ih_l0.detach())
    layer.set_array("StateWeights", ref.weight_hh_l0.detach())
    layer.set_array("Biases", (ref.bias_ih_l0 + ref.bias_hh_l0).detach())
    return ref, layer.to(D)


PAIRS = {"lstm": _lstm_pair, "gru": _gru_pair, "rnn": _rnn_pair}


@pytest.mark.parametrize("kind", PAIRS)
def test_mixed_lengths_equal_torch_on_each_sequence_alone(kind):
    ref, layer = PAIRS[kind]()
    x = torch.randn(3, 6, K, dtype=D)
    lengths = torch.tensor([6, 1, 4])
    out = layer.forward(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        ro, rh = ref(x[b:b + 1, :n])
        torch.testing.assert_close(out["Output"][b, :n], ro[0], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(out["State"][b], (rh[0] if kind == "lstm" else rh)[0, 0],
                                   rtol=1e-12, atol=1e-13)
        if kind == "lstm":
            torch.testing.assert_close(out["CellState"][b], rh[1][0, 0], rtol=1e-12, atol=1e-13)
        assert torch.equal(out["Output"][b, n:], torch.zeros(6 - n, N, dtype=D))


@pytest.mark.parametrize("kind", PAIRS)
def test_array_gradients_equal_torch(kind):
    ref, layer = PAIRS[kind]()
    x = torch.randn(2, 5, K, dtype=D)
    lengths = torch.tensor([5, 3])
    layer.forward(x, lengths=lengths)["Output"].sum().backward()
    for b, n in enumerate(lengths.tolist()):
        ref(x[b:b + 1, :n])[0].sum().backward()
    if kind == "rnn":
        torch.testing.assert_close(layer.StateWeights.grad, ref.weight_hh_l0.grad, rtol=1e-11,
                                   atol=1e-12)
        torch.testing.assert_close(layer.Biases.grad, ref.bias_ih_l0.grad, rtol=1e-11, atol=1e-12)
    else:
        gates = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate") if kind == "lstm" else \
            ("ResetGate", "InputGate", "MemoryGate")
        ours = torch.cat([getattr(layer, f"{g}InputWeights").grad for g in gates])
        torch.testing.assert_close(ours, ref.weight_ih_l0.grad, rtol=1e-11, atol=1e-12)


def test_gradcheck_of_the_layer():
    _, layer = _lstm_pair()
    x = torch.randn(2, 3, K, dtype=D, requires_grad=True)
    w = layer.ForgetGateStateWeights
    lengths = torch.tensor([3, 2])
    f = lambda x, w_: torch.func.functional_call(  # noqa: E731
        layer, {"ForgetGateStateWeights": w_}, (x,), {"lengths": lengths})["Output"]
    assert torch.autograd.gradcheck(f, (x, w.detach().clone().requires_grad_()))


def test_state_ports_in_a_graph():
    """Initial states from graph inputs, final states as graph outputs (Wolfram's NetPort)."""
    _, layer = _lstm_pair(input=(5, K))
    net = NetGraph({"lstm": layer},
                   [(NetPort("Init"), NetPort("lstm", "State")),
                    (NetPort("lstm", "State"), NetPort("Final")),
                    (NetPort("lstm", "Output"), NetPort("Seq"))],
                   Input=(5, K), Init=N)
    assert net.input_names() == ("Input", "Init")
    assert set(net.output_names()) == {"Final", "Seq"}
    x = np.random.default_rng(0).normal(size=(2, 5, K))
    s0 = np.random.default_rng(1).normal(size=(2, N))
    out = net({"Input": x, "Init": s0}, precision="float64")
    ref = layer.forward(torch.tensor(x), torch.tensor(s0))
    np.testing.assert_allclose(out["Final"], ref["State"].detach().numpy(), rtol=1e-12)
    g = net({"Input": x, "Init": s0}, NetPortGradient("Init"), precision="float64")
    assert g.shape == (2, N) and np.isfinite(g).all()


def test_a_chain_exposes_only_input_and_output():
    chain = ng.NetChain([LongShortTermMemoryLayer(N), GatedRecurrentLayer(2)], input=(4, K))
    assert chain.input_names() == ("Input",) and chain.output_names() == ("Output",)
    assert chain.port_shape("Output") == (4, 2)


def test_dropout_only_in_training_and_each_kind_changes_the_output():
    _, layer = _lstm_pair()
    x = torch.randn(2, 5, K, dtype=D)
    plain = layer.forward(x)["Output"]
    for kind in ("VariationalInput", "VariationalState", "VariationalWeights", "StateUpdate"):
        dropped = LongShortTermMemoryLayer(N, input=("Varying", K), dropout={kind: 0.5})
        dropped.load_state_dict(layer.state_dict())
        dropped = dropped.to(D)
        assert torch.equal(dropped.eval().forward(x)["Output"], plain)
        torch.manual_seed(1)
        a = dropped.train().forward(x)["Output"]
        torch.manual_seed(1)
        b = dropped.forward(x)["Output"]
        assert torch.equal(a, b) and not torch.allclose(a, plain), kind


def test_variational_input_dropout_uses_one_mask_per_sequence():
    _, layer = _lstm_pair()
    dropped = LongShortTermMemoryLayer(N, input=("Varying", K), dropout={"VariationalInput": 0.5})
    dropped.load_state_dict(layer.state_dict())
    dropped = dropped.to(D).train()
    x = torch.randn(2, 5, K, dtype=D)
    torch.manual_seed(3)
    mask = (torch.rand(2, 1, K) >= 0.5).to(D) / 0.5
    torch.manual_seed(3)
    out = dropped.forward(x)["Output"]
    torch.testing.assert_close(out, layer.forward(x * mask)["Output"], rtol=1e-12, atol=1e-13)


def test_options_and_shapes_are_checked():
    with pytest.raises(ng.NetValueError, match="unknown dropout kind.*VariationalState"):
        LongShortTermMemoryLayer(3, dropout={"variationalstate": 0.1})
    with pytest.raises(ng.NetValueError, match=r"lies in \[0, 1\)"):
        GatedRecurrentLayer(3, dropout=1.0)
    with pytest.raises(ng.NetValueError, match="positive int"):
        BasicRecurrentLayer(0)
    with pytest.raises(ng.ShapeError, match="sequence of vectors"):
        LongShortTermMemoryLayer(3, input=("Varying", 2, 2))
    with pytest.raises(ng.ShapeError, match=r"port \"State\" expects a vector of length 3"):
        NetGraph({"g": GatedRecurrentLayer(3, input=(4, 2))},
                 [(NetPort("S"), NetPort("g", "State"))], S=2)


def test_initialization_sets_forget_biases_to_one():
    net = NetInitialize(LongShortTermMemoryLayer(3, input=("Varying", 2)), seed=0)
    assert torch.equal(net.ForgetGateBiases, torch.ones(3))
    assert torch.equal(net.InputGateBiases, torch.zeros(3))

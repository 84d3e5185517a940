"""The examples of Wolfram's NetPortGradient documentation, and every spec form."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (All, CrossEntropyLossLayer, ElementwiseLayer, LinearLayer, NetChain,
                     NetGraph, NetInitialize, NetPort, NetPortGradient, ThreadingLayer)


def test_ramp_derivative_is_zero_for_negative_inputs():
    ramp = ElementwiseLayer("Ramp")
    x = np.linspace(-3, 3, 13)
    g = ramp(x, NetPortGradient("Input"))
    np.testing.assert_array_equal(g, (x > 0).astype(np.float32))  # 0 below, and at, 0


def central_difference(f, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (np.sum(f(x + e)) - np.sum(f(x - e))) / (2 * h)
    return g


def test_linear_layer_input_gradient_matches_finite_differences():
    lin = NetInitialize(LinearLayer(3, input=4), seed=7)
    x = np.random.default_rng(0).normal(size=4)
    g = lin(x, NetPortGradient("Input"), precision="float64")
    fd = central_difference(lambda v: lin(v, precision="float64"), x)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
    # and it is the column sum of the weights
    np.testing.assert_allclose(g, lin.Weights.detach().double().sum(0).numpy(), rtol=1e-6)


def test_binary_cross_entropy_derivative_sign():
    loss = CrossEntropyLossLayer("Binary")
    target = 0.3
    below = loss({"Input": 0.1, "Target": target}, NetPortGradient("Input"))
    at = loss({"Input": target, "Target": target}, NetPortGradient("Input"))
    above = loss({"Input": 0.8, "Target": target}, NetPortGradient("Input"))
    assert below < 0 < above
    assert abs(at) < 1e-6


@pytest.fixture
def chain():
    net = NetChain({"lin1": LinearLayer(4), "tanh": "Tanh", "lin2": LinearLayer(2)}, input=3)
    return NetInitialize(net, seed=3)


def test_chain_gradients_of_first_layer_arrays_input_and_imposed(chain):
    x = [0.2, -0.4, 0.9]
    gw = chain(x, NetPortGradient(("lin1", "Weights")))
    gb = chain(x, NetPortGradient(("lin1", "Biases")))
    gx = chain(x, NetPortGradient("Input"))
    assert gw.shape == (4, 3) and gb.shape == (4,) and gx.shape == (3,)
    # Weights gradient is the outer product of the Biases gradient and the input (rank 1)
    np.testing.assert_allclose(gw, np.outer(gb, x), rtol=1e-5, atol=1e-7)
    # by position as well as by name
    np.testing.assert_array_equal(chain(x, NetPortGradient((0, "Weights"))), gw)
    # imposed output gradient: a vector-Jacobian product, linear in g
    g1 = chain({"Input": x, NetPortGradient("Output"): [1.0, 0.0]}, NetPortGradient("Input"))
    g2 = chain({"Input": x, NetPortGradient("Output"): [0.0, 1.0]}, NetPortGradient("Input"))
    g3 = chain({"Input": x, NetPortGradient("Output"): [2.0, -3.0]}, NetPortGradient("Input"))
    np.testing.assert_allclose(g3, 2 * g1 - 3 * g2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g1 + g2, gx, rtol=1e-5, atol=1e-6)
    # All in one call
    everything = chain(x, NetPortGradient(All))
    assert list(everything) == [NetPortGradient("Input"), NetPortGradient(("lin1", "Weights")),
                                NetPortGradient(("lin1", "Biases")),
                                NetPortGradient(("lin2", "Weights")),
                                NetPortGradient(("lin2", "Biases"))]
    np.testing.assert_array_equal(everything[NetPortGradient(("lin1", "Weights"))], gw)
    np.testing.assert_array_equal(everything[NetPortGradient("Input")], gx)
    # a list of specs is a dict keyed by spec
    both = chain(x, [NetPortGradient("Input"), NetPortGradient(("lin2", "Biases"))])
    assert set(both) == {NetPortGradient("Input"), NetPortGradient(("lin2", "Biases"))}


def test_default_output_gradient_is_ones(chain):
    x = [0.5, 0.1, -0.7]
    default = chain(x, NetPortGradient(All))
    ones = chain({"Input": x, NetPortGradient("Output"): [1.0, 1.0]}, NetPortGradient(All))
    for k in default:
        np.testing.assert_array_equal(default[k], ones[k])


def test_array_gradients_are_summed_over_a_batch(chain):
    xs = np.random.default_rng(1).normal(size=(5, 3))
    batch = chain(xs, NetPortGradient(("lin1", "Weights")))
    single = sum(chain(x, NetPortGradient(("lin1", "Weights"))) for x in xs)
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)
    per_example = chain(xs, NetPortGradient("Input"))
    assert per_example.shape == (5, 3)
    np.testing.assert_allclose(per_example[2], chain(xs[2], NetPortGradient("Input")), rtol=1e-6)


def test_single_layer_array_by_name():
    lin = LinearLayer(2, weights=[[1.0, 2.0], [3.0, 4.0]], biases=[0.5, -0.5])
    np.testing.assert_array_equal(lin([1.0, -1.0]), [-0.5, -1.5])
    np.testing.assert_array_equal(lin([1.0, -1.0], NetPortGradient("Weights")),
                                  [[1.0, -1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(lin([1.0, -1.0], NetPortGradient("Biases")), [1.0, 1.0])
    np.testing.assert_array_equal(lin([1.0, -1.0], NetPortGradient("Input")), [4.0, 6.0])


def test_nested_path_by_names_and_positions():
    inner = NetChain({"lin": LinearLayer(2, input=2), "act": "Tanh"})
    block = NetGraph({"a": "Sin", "b": "Cos", "inner": inner},
                     [("a", "inner")])
    outer = NetInitialize(NetChain({"pre": LinearLayer(2, input=2), "block": NetChain([block])}),
                          seed=0)
    x = [0.3, -0.2]
    by_name = outer(x, NetPortGradient(("block", "0", "inner", "lin", "Biases")))
    by_pos = outer(x, NetPortGradient(("block", 0, 2, 0, "Biases")))
    np.testing.assert_array_equal(by_name, by_pos)
    assert by_name.shape == (2,)
    keys = list(outer(x, NetPortGradient(All)))
    assert NetPortGradient(("block", "0", "inner", "lin", "Weights")) in keys


def test_multiple_outputs_and_imposed_gradient_on_one():
    g = NetGraph({"s": "Sin", "c": "Cos"}, [(NetPort("Input"), "s"), (NetPort("Input"), "c"),
                                             ("s", NetPort("S")), ("c", NetPort("C"))], Input=3)
    x = np.array([0.1, 0.2, 0.3])
    out = g(x)
    assert set(out) == {"S", "C"}
    gs = g({"Input": x, NetPortGradient("S"): np.ones(3)}, NetPortGradient("Input"))
    np.testing.assert_allclose(gs, np.cos(x), rtol=1e-6)
    gall = g(x, NetPortGradient("Input"))
    np.testing.assert_allclose(gall, np.cos(x) - np.sin(x), rtol=1e-6)
    assert g(x, "C").shape == (3,)


def test_threading_layer_gradients_with_several_inputs():
    t = ThreadingLayer("Times")
    data = {"Input1": [1.0, 2.0], "Input2": [3.0, 0.0]}
    np.testing.assert_array_equal(t(data, NetPortGradient("Input1")), [3.0, 0.0])
    np.testing.assert_array_equal(t(data, NetPortGradient("Input2")), [1.0, 2.0])


# ---- errors ---------------------------------------------------------------------------------

def test_gradient_of_integer_input_is_a_clear_error():
    loss = CrossEntropyLossLayer("Index")
    with pytest.raises(ng.NetValueError, match=r"integers.*no gradient.*input ports \['Input'\]"):
        loss({"Input": [0.2, 0.8], "Target": 1}, NetPortGradient("Target"))


def test_unknown_port_or_array_lists_what_is_available(chain):
    with pytest.raises(ng.NetKeyError) as e:
        chain([1, 2, 3], NetPortGradient("Inptu"))
    msg = str(e.value)
    assert "'Inptu'" in msg and "'Input'" in msg and "('lin1', 'Weights')" in msg
    with pytest.raises(KeyError, match=r"arrays of a net are named by path"):
        chain([1, 2, 3], NetPortGradient("Weights"))
    with pytest.raises(ng.NetKeyError, match=r"no vertex 'lin3'.*\['lin1', 'tanh', 'lin2'\]"):
        chain([1, 2, 3], NetPortGradient(("lin3", "Weights")))
    with pytest.raises(ng.NetKeyError, match=r"has no array 'Weights'.*no learned arrays"):
        chain([1, 2, 3], NetPortGradient(("tanh", "Weights")))
    with pytest.raises(ng.NetValueError, match=r"output port"):
        chain([1, 2, 3], NetPortGradient("Output"))


def test_fixed_array_has_no_gradient():
    lin = LinearLayer(1, weights=[[1.0]], biases=[0.0])
    lin.Weights.requires_grad_(False)
    with pytest.raises(ng.NetValueError, match="fixed"):
        lin([1.0], NetPortGradient("Weights"))
    assert NetPortGradient("Weights") not in lin([1.0], NetPortGradient(All))


def test_net_port_gradient_does_not_touch_grad_or_state(chain):
    before = {k: v.clone() for k, v in chain.state_dict().items()}
    chain([1.0, 2.0, 3.0], NetPortGradient(All), precision="float64")
    assert all(p.grad is None for p in chain.parameters())
    for k, v in chain.state_dict().items():
        assert v.dtype == torch.float32
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)

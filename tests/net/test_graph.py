"""NetGraph and NetChain: wiring, ports, shape inference, errors, printing, PyTorch interop."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AggregationLayer, CatenateLayer, CrossEntropyLossLayer, ElementwiseLayer,
                     LinearLayer, MeanSquaredLossLayer, NetChain, NetGraph, NetInitialize,
                     NetPort, SoftmaxLayer, ThreadingLayer)


def test_chain_shorthand_and_names():
    net = NetChain(["Ramp", 3, "Tanh"], input=2)
    assert [type(layer).__name__ for layer in net] == ["ElementwiseLayer", "LinearLayer", "ElementwiseLayer"]
    assert net.vertex_names() == ["0", "1", "2"]
    assert net.port_shape("Input") == (2,) and net.port_shape("Output") == (3,)
    named = NetChain({"a": "Ramp", "b": LinearLayer(3)}, input=2)
    assert named.vertex_names() == ["a", "b"]
    assert named["b"].Weights.shape == (3, 2)
    assert named[1] is named["b"]


def test_shapes_are_inferred_through_the_net():
    net = NetChain([LinearLayer(5), "Ramp", AggregationLayer("Max", 1)], input=(2, 3))
    assert net.port_shape("Output") == ()
    assert net[0].Weights.shape == (5, 6)


def test_loss_layer_at_the_end_exposes_target():
    net = NetChain([LinearLayer(3), SoftmaxLayer(), CrossEntropyLossLayer("Index")], input=4)
    assert net.input_names() == ("Input", "Target")
    assert net.output_names() == ("Loss",)
    assert net.integer_ports() == frozenset({"Target"})
    net = NetInitialize(net, seed=0)
    loss = net({"Input": np.ones((6, 4)), "Target": [0, 1, 2, 0, 1, 2]})
    assert loss.shape == (6,) and np.all(loss > 0)


def test_unconnected_ports_become_graph_ports():
    g = NetGraph({"lin": LinearLayer(2, input=3), "loss": MeanSquaredLossLayer()},
                 [("lin", "loss")])
    assert g.input_names() == ("Input", "Target")
    assert g.output_names() == ("Loss",)
    assert g.port_shape("Target") == (2,)
    # two dangling outputs with one name are numbered
    g2 = NetGraph({"a": "Sin", "b": "Cos"})
    assert g2.input_names() == ("Input",) and g2.output_names() == ("Output1", "Output2")
    out = g2([0.0, 1.0])
    np.testing.assert_allclose(out["Output2"], np.cos([0.0, 1.0]), rtol=1e-6)


def test_list_sources_feed_variadic_layers():
    g = NetGraph({"a": "Sin", "b": "Cos", "cat": CatenateLayer(), "t": ThreadingLayer("Plus")},
                 [(NetPort("Input"), "a"), (NetPort("Input"), "b"), (["a", "b"], "cat"),
                  (["a", "b"], "t"), ("cat", NetPort("Cat")), ("t", NetPort("Sum"))], Input=2)
    assert g.port_shape("Cat") == (4,) and g.port_shape("Sum") == (2,)
    out = g([0.5, 1.0])
    np.testing.assert_allclose(out["Sum"], np.sin([0.5, 1]) + np.cos([0.5, 1]), rtol=1e-6)


def test_explicit_vertex_ports_and_positions():
    g = NetGraph([LinearLayer(2, input=2), MeanSquaredLossLayer()],
                 [(0, NetPort(1, "Input")), (NetPort("Target"), NetPort(1, "Target"))])
    assert g.input_names() == ("Input", "Target")


def test_nets_nest_to_any_depth():
    net = NetChain([LinearLayer(3)])
    for _ in range(4):
        net = NetChain([net, "Tanh"])
    net = NetInitialize(NetChain([net], input=2), seed=0)
    assert net([0.1, 0.2]).shape == (3,)
    paths = [p for p, _, _ in net.named_arrays()]
    assert paths[0] == ("0", "0", "0", "0", "0", "0", "Weights")


# ---- construction errors name both ends ----------------------------------------------------

def test_edge_shape_mismatch_names_both_ends():
    with pytest.raises(ng.ShapeError) as e:
        NetGraph({"lin": LinearLayer(3, input=2), "lin2": LinearLayer(4, input=5)},
                 [("lin", "lin2")])
    msg = str(e.value)
    assert '"lin2" (LinearLayer), port "Input"' in msg
    assert "vector of length 5" in msg and "vector of length 3" in msg
    assert '"lin" (LinearLayer) port "Output"' in msg
    assert isinstance(e.value, ValueError)


def test_chain_mismatch_and_declared_output():
    with pytest.raises(ng.ShapeError, match=r'"1" \(LinearLayer\), port "Input".*length 3'):
        NetChain([LinearLayer(3), LinearLayer(2, input=4)], input=2)
    with pytest.raises(ng.ShapeError, match=r'output port "Output".*length 4.*length 3'):
        NetChain([LinearLayer(3)], input=2, output=4)


def test_wiring_errors():
    with pytest.raises(ng.NetKeyError, match=r"has no vertex 'c'.*\['a', 'b'\]"):
        NetGraph({"a": "Sin", "b": "Cos"}, [("a", "c")])
    with pytest.raises(ng.NetValueError, match="cycle"):
        NetGraph({"a": ThreadingLayer("Plus"), "b": "Sin"},
                 [(["b", NetPort("Input")], "a"), ("a", "b")])
    with pytest.raises(ng.NetValueError, match="connected twice"):
        NetGraph({"a": "Sin", "b": "Cos", "c": "Tanh"}, [("a", "c"), ("b", "c")])
    with pytest.raises(ng.NetKeyError, match="no input port 'Targt'.*\\['Input', 'Target'\\]"):
        NetGraph({"a": "Sin", "l": MeanSquaredLossLayer()}, [("a", NetPort("l", "Targt"))])
    # a torch module is a vertex (issue 12): it becomes a ModuleLayer; other objects are not
    assert isinstance(NetGraph({"a": torch.nn.Linear(2, 2)})["a"], ng.ModuleLayer)
    with pytest.raises(ng.NetTypeError, match="a vertex is a layer"):
        NetGraph({"a": {1, 2}})
    with pytest.raises(ng.NetValueError, match="several output ports"):
        g = NetGraph({"s": "Sin", "c": "Cos"})
        NetGraph({"g": g, "t": "Tanh"}, [("g", "t")])
    with pytest.raises(ng.NetValueError, match="did you mean 'Ramp'"):
        ElementwiseLayer("ramp")


# ---- evaluation errors ------------------------------------------------------------------------

def test_data_shape_errors_are_readable():
    net = NetInitialize(NetChain([LinearLayer(2)], input=3), seed=0)
    with pytest.raises(ng.ShapeError) as e:
        net(np.zeros((2, 5)))
    msg = str(e.value)
    assert 'port "Input"' in msg and "vector of length 3" in msg and "(2, 5)" in msg
    with pytest.raises(ng.NetKeyError, match="did you mean 'Input'"):
        net({"input": [1, 2, 3]})
    loss = NetChain([MeanSquaredLossLayer()])
    with pytest.raises(ng.NetTypeError, match="must be a dict"):
        loss([1.0, 2.0])
    with pytest.raises(ng.NetKeyError, match="'Target' is missing"):
        loss({"Input": [1.0]})
    with pytest.raises(ng.NetTypeError, match="rectangular"):
        net([[1, 2, 3], [1, 2]])
    with pytest.raises(ng.NetValueError, match='precision is "float32" or "float64"'):
        net([1, 2, 3], precision="half")


def test_uninitialized_arrays_say_how_to_initialize():
    net = NetChain([LinearLayer(2)], input=3)
    with pytest.raises(ng.UninitializedError, match=r"NetInitialize") as e:
        net([1, 2, 3])
    assert '"0" (LinearLayer), array "Weights"' in str(e.value)
    # shape unknown: NetInitialize says to declare the input
    with pytest.raises(ng.ShapeError, match=r"declare the input shape"):
        NetInitialize(NetChain([LinearLayer(2)]))
    # NetInitialize returns a copy and leaves the argument alone
    init = NetInitialize(net, seed=1)
    assert not net.is_initialized() and net[0].array_state("Weights") == "uninitialized"
    assert init.is_initialized() and init[0].array_state("Weights") == "set"
    assert np.isfinite(init([1, 2, 3])).all()
    again = NetInitialize(net, seed=1)
    torch.testing.assert_close(init[0].Weights, again[0].Weights, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["Kaiming", "Xavier", "Orthogonal", "Random"])
def test_initialization_methods(method):
    net = NetInitialize(NetChain([LinearLayer(64), LinearLayer(64)], input=64), method, seed=0)
    w = net[0].Weights.detach()
    assert torch.all(net[0].Biases == 0)
    if method == "Orthogonal":
        torch.testing.assert_close(w @ w.T, torch.eye(64), atol=1e-4, rtol=0)
    elif method == "Kaiming":
        assert abs(w.std().item() - (2 / 64) ** 0.5) < 0.02
    elif method == "Xavier":
        assert w.abs().max() <= (6 / 128) ** 0.5
    with pytest.raises(ng.NetValueError, match="one of"):
        NetInitialize(net, "He")


def test_printing_lists_layers_ports_and_arrays():
    net = NetChain({"lin": LinearLayer(3), "act": "Ramp"}, input=2)
    text = str(net)
    assert "NetChain" in text and '"lin"' in text and "LinearLayer(3)" in text
    assert "Weights (3, 2)" in text and "uninitialized" in text
    assert "Input (2,)" in text and "Output (3,)" in text


# ---- PyTorch interop ------------------------------------------------------------------------

def test_nets_are_torch_modules():
    net = NetInitialize(NetChain({"lin": LinearLayer(3), "act": "Tanh", "out": LinearLayer(1)},
                                 input=2), seed=0)
    assert isinstance(net, torch.nn.Module)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["vertices.lin.Weights", "vertices.lin.Biases", "vertices.out.Weights",
                     "vertices.out.Biases"]
    sd = net.state_dict()
    fresh = NetChain({"lin": LinearLayer(3), "act": "Tanh", "out": LinearLayer(1)}, input=2)
    fresh.load_state_dict(sd)  # loading marks the arrays initialized
    np.testing.assert_array_equal(fresh([0.3, 0.4]), net([0.3, 0.4]))
    # a plain torch training step with a torch optimizer and batched tensors
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(8, 2)
    seen = []
    handle = net["lin"].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    loss = net.forward(x).pow(2).mean()
    loss.backward()
    opt.step()
    handle.remove()
    assert seen == [torch.Size([8, 3])]
    # PyTorch-style call with two tensors, and inside torch.nn.Sequential
    mse = MeanSquaredLossLayer()
    assert mse(torch.ones(4, 2), torch.zeros(4, 2)).shape == (4,)
    seq = torch.nn.Sequential(net, torch.nn.Flatten(0))
    assert seq(torch.randn(5, 2)).shape == (5,)
    net64 = net.double()
    assert net64[0].Weights.dtype == torch.float64
    assert net64([0.1, 0.2], precision="float64").dtype == np.float64


def test_dropout_is_off_when_evaluating_and_on_in_train_mode():
    net = NetChain([ng.DropoutLayer(0.5)], input=1000)
    x = np.ones(1000)
    np.testing.assert_array_equal(net(x), x)
    torch.manual_seed(0)
    y = net(x, mode="Train")
    assert 300 < np.sum(y == 0) < 700
    assert net.training  # the module's own mode is restored

"""FunctionLayer, CompiledLayer and PlaceholderLayer: named ports, robust() inside, shapes by
running on meta tensors, several outputs, saving as data (refused at save time when it cannot
be), errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (CompiledLayer, FunctionLayer, NetGraph, NetPortGradient,
                     PlaceholderLayer)

from _layer_testing import compiles_fullgraph, gradchecks

F64 = torch.float64


def test_ports_are_the_parameters_and_shapes_come_from_running_on_meta():
    f = FunctionLayer(lambda a, b: torch.cat([a, b * 2], dim=-1), a=3, b=(2,))
    assert f.input_names() == ("a", "b") and f.port_shape("Output") == (5,)
    np.testing.assert_array_equal(f({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0]}), [1, 2, 3, 8, 10])
    single = FunctionLayer(lambda x: x.sum(-1), input=(2, 4))
    assert single.input_names() == ("Input",) and single.port_shape("Output") == (2,)
    # reads values (cannot run on meta tensors): its shapes come from a batch of zeros
    data_dependent = FunctionLayer(lambda x: x if bool((x > 0).all()) else -x, input=3)
    assert data_dependent.port_shape("Output") == (3,)


def test_plain_torch_inside_keeps_the_contract():
    f = FunctionLayer(lambda x: torch.where(x > 0, torch.sqrt(x), 0.0) + torch.sqrt(x * x),
                      input=3)
    g = f([-1.0, 0.0, 4.0], NetPortGradient("Input"))
    np.testing.assert_allclose(g, [-1.0, 0.0, 1.25])
    gradchecks(FunctionLayer(lambda a, b: torch.hypot(a, b) * a, a=2, b=2).double(),
               torch.randn(3, 2, dtype=F64), torch.randn(3, 2, dtype=F64))


def test_several_outputs():
    f = FunctionLayer(lambda u, v: {"Sum": u + v, "Product": u * v}, outputs=["Sum", "Product"],
                      u=2, v=2)
    assert f.output_names() == ("Sum", "Product") and f.port_shape("Product") == (2,)
    out = f({"u": [1.0, 2.0], "v": [3.0, 4.0]})
    np.testing.assert_array_equal(out["Sum"], [4, 6])
    np.testing.assert_array_equal(out["Product"], [3, 8])
    pair = FunctionLayer(lambda x: (x + 1, x - 1), outputs=["Up", "Down"], input=1)
    assert pair([0.0])["Down"].tolist() == [-1.0]
    with pytest.raises(ng.NetValueError, match="output ports"):
        FunctionLayer(lambda u: {"A": u}, outputs=["B"], u=1)


def test_saving_as_data_and_refusal_at_save_time(tmp_path):
    net = NetGraph({"f": FunctionLayer(lambda a, b: torch.sqrt(a * a + b * b), a=2, b=2)}, [])
    ng.save(net, tmp_path / "f.netgrad")
    again = ng.load(tmp_path / "f.netgrad")
    data = {"a": [[3.0, 0.0]], "b": [[4.0, 0.0]]}
    np.testing.assert_array_equal(again(data), net(data))
    np.testing.assert_allclose(again(data, NetPortGradient("a")), [[0.6, 0.0]], rtol=1e-6)
    bad = FunctionLayer(lambda x: torch.from_numpy(np.sin(x.detach().numpy())), input=2)
    with pytest.raises(ng.NetValueError, match="saved function") as e:
        ng.save(bad, tmp_path / "bad.netgrad")
    assert not (tmp_path / "bad.netgrad").exists() and e.value.fix


def test_compiled_layer_from_an_fx_graph(tmp_path):
    def f(x, y):
        return torch.tanh(x) * y + ng.ops.softplus(x)

    layer = CompiledLayer(torch.fx.symbolic_trace(f), x=3, y=3)
    assert layer.input_names() == ("x", "y") and layer.port_shape("Output") == (3,)
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    want = np.tanh(x) * y + np.log1p(np.exp(x))
    np.testing.assert_allclose(layer({"x": x, "y": y}, precision="float64"), want, rtol=1e-12)
    ng.save(layer, tmp_path / "c.netgrad")
    again = ng.load(tmp_path / "c.netgrad")
    assert again.graph_module is None  # rebuilt from data, never from code
    np.testing.assert_array_equal(again({"x": x, "y": y}), layer({"x": x, "y": y}))
    with pytest.raises(ng.NetTypeError, match="torch.fx graph"):
        CompiledLayer(f)


def test_placeholder_passes_shapes_and_refuses_to_run():
    p = PlaceholderLayer("detector", output_shapes={"Output": (4,)}, Input=(2,))
    chain = ng.NetChain([p, ng.LinearLayer(3)])
    assert chain.port_shape("Output") == (3,) and chain[1].Weights.shape == (3, 4)
    with pytest.raises(ng.NetValueError, match="no operation") as e:
        ng.NetInitialize(chain, seed=0)([1.0, 2.0])
    assert "NetReplacePart" in e.value.fix


def test_errors_name_the_ports():
    with pytest.raises(ng.NetTypeError, match="name its input ports"):
        FunctionLayer(lambda *xs: xs[0])
    with pytest.raises(ng.NetKeyError, match="no input port 'c'"):
        FunctionLayer(lambda a, b: a + b, c=3)
    with pytest.raises(ng.ShapeError, match="batch dimension"):
        FunctionLayer(lambda x: x.sum(), input=3)  # summed over the batch too


def test_compile_function_layer():
    f = FunctionLayer(lambda a, b: torch.where(a > b, a - b, 0.0) * 2, a=3, b=3)
    compiles_fullgraph(lambda a, b: f.forward(a, b), torch.randn(2, 3), torch.randn(2, 3))

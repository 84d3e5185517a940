"""save → load gives a net that evaluates and differentiates bit for bit as the original."""

import numpy as np
import pytest
import torch

import netgrad as ng
import netgrad.io as nio
from netgrad import (AggregationLayer, All, CatenateLayer, ElementwiseLayer, LinearLayer,
                     MeanSquaredLossLayer, NetChain, NetGraph, NetInitialize, NetPort,
                     NetPortGradient, ThreadingLayer)

from io_examples import EXAMPLES, example_params, make_data


def round_trip(net, tmp_path, name="net.netgrad"):
    path = tmp_path / name
    nio.save(net, path)
    return nio.load(path)


def assert_same_value(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_value(a[k], b[k])
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), (a, b)


def assert_same_structure(a, b):
    """Same types, port shapes, declared shapes, arrays (values, dtype, requires_grad, state)."""
    assert type(a) is type(b)
    assert a.input_names() == b.input_names() and a.output_names() == b.output_names()
    for p in a.input_names() + a.output_names():
        assert a.port_shape(p) == b.port_shape(p), p
    assert a.declared_port_shapes() == b.declared_port_shapes()
    assert a.training == b.training
    if isinstance(a, NetGraph):
        assert a.vertex_names() == b.vertex_names() and a.edges() == b.edges()
        for va, vb in zip(a, b):
            assert_same_structure(va, vb)
        return
    assert a.get_config().keys() == b.get_config().keys()
    assert [a.array_state(n) for n in a.array_names] == [b.array_state(n) for n in b.array_names]
    for name in a.array_names:
        pa, pb = getattr(a, name), getattr(b, name)
        assert (pa is None) == (pb is None), name
        if pa is not None:
            assert pa.dtype == pb.dtype and pa.requires_grad == pb.requires_grad
            assert torch.equal(pa.isnan(), pb.isnan())
            assert torch.equal(pa.nan_to_num(), pb.nan_to_num())


def assert_same_behaviour(a, b, data):
    assert_same_value(a(data), b(data))
    assert_same_value(a(data, NetPortGradient(All)), b(data, NetPortGradient(All)))


@pytest.mark.parametrize("name, i", example_params(),
                         ids=[f"{n}-{i}" for n, i in example_params()])
def test_every_layer_round_trips(name, i, tmp_path):
    example = EXAMPLES[name][i]
    layer = example.make()
    if layer.uninitialized_arrays() and layer.array_shapes_for(
            {p: layer.port_shape(p) for p in layer.input_names()}).get("Weights") is not None:
        layer = NetInitialize(layer, seed=3)
    loaded = round_trip(layer, tmp_path)
    assert_same_structure(layer, loaded)
    if example.data and not layer.uninitialized_arrays():
        data = make_data(example.data)
        data = data if len(data) > 1 else next(iter(data.values()))
        assert_same_behaviour(layer, loaded, data)


def _nested(depth=3):
    inner = NetGraph({"a": LinearLayer(3), "b": ElementwiseLayer(lambda x: x * torch.sigmoid(x)),
                      "c": ThreadingLayer(lambda x, y: ng.ops.where(x > y, x - y, 0.0))},
                     [("a", "b"), (["b", "a"], "c")], Input=2)
    net = inner
    for d in range(depth):
        net = NetChain({f"pre{d}": LinearLayer(2), f"g{d}": net, f"act{d}": "Ramp",
                        f"post{d}": LinearLayer(3)}, input=2 if d == depth - 1 else None)
    graph = NetGraph({"enc": net, "side": LinearLayer(3, input=2),
                      "join": CatenateLayer(), "sum": AggregationLayer("Total", 1),
                      "loss": MeanSquaredLossLayer()},
                     [(NetPort("Input"), "enc"), (NetPort("Input"), "side"),
                      (["enc", "side"], "join", "sum"), ("sum", NetPort("Value")),
                      ("side", NetPort("loss", "Input"))], Input=2)
    return NetInitialize(graph, seed=7)


def test_nested_graphs_round_trip_bit_for_bit(tmp_path):
    net = _nested(3)
    loaded = round_trip(net, tmp_path)
    assert_same_structure(net, loaded)
    rng = np.random.default_rng(1)
    data = {"Input": rng.normal(size=(5, 2)).astype(np.float32),
            "Target": rng.normal(size=(5, 3)).astype(np.float32)}
    data["Input"][0] = 0.0
    assert_same_behaviour(net, loaded, data)


def test_deep_nesting_round_trips(tmp_path):
    net = LinearLayer(2, input=2)
    for d in range(40):
        net = NetChain([net, "Tanh"]) if d % 2 else NetGraph({"x": net})
    net = NetInitialize(net, seed=0)
    loaded = round_trip(net, tmp_path)
    assert_same_structure(net, loaded)
    assert_same_behaviour(net, loaded, np.array([[0.5, -1.0], [0.0, 0.0]], np.float32))


def test_saving_again_gives_the_same_file(tmp_path):
    net = _nested(2)
    loaded = round_trip(net, tmp_path, "a.netgrad")
    nio.save(loaded, tmp_path / "b.netgrad")
    assert (tmp_path / "a.netgrad").read_bytes() == (tmp_path / "b.netgrad").read_bytes()


def test_uninitialized_and_unknown_arrays_keep_their_state(tmp_path):
    chain = NetChain({"l1": LinearLayer(3), "act": "Tanh", "l2": LinearLayer(2)}, input=4)
    chain["l2"].set_array("Biases", [1.0, -2.0])
    free = LinearLayer(5)  # input unknown: Weights have no shape yet
    for net in (chain, free):
        loaded = round_trip(net, tmp_path)
        assert_same_structure(net, loaded)
        assert loaded.uninitialized_arrays() == net.uninitialized_arrays()
    with pytest.raises(ng.UninitializedError):
        round_trip(chain, tmp_path)([1.0, 2.0, 3.0, 4.0])
    assert round_trip(free, tmp_path).Weights is None


def test_chain_graph_declared_shapes_fixed_arrays_and_float64(tmp_path):
    as_graph = NetGraph({"a": LinearLayer(3), "b": "Tanh"}, [("a", "b")], Input=2)
    chain = NetChain([LinearLayer(3), "Tanh"], input=2, output=3)
    for net in (as_graph, chain):
        net = NetInitialize(net, seed=2)
        net[0].Weights.requires_grad_(False)
        net = net.double()
        loaded = round_trip(net, tmp_path)
        assert type(loaded) is type(net)
        assert_same_structure(net, loaded)
        assert loaded[0].Weights.dtype == torch.float64
        assert not loaded[0].Weights.requires_grad and loaded[0].Biases.requires_grad
        x = np.array([[0.25, -1.0], [0.0, 0.0]])
        assert_same_behaviour(net, loaded, x)
        assert_same_value(net(x, precision="float64"), loaded(x, precision="float64"))


def test_shared_layer_stays_shared(tmp_path):
    shared = LinearLayer(2, input=2)
    net = NetInitialize(NetChain({"a": shared, "b": "Tanh", "c": shared}), seed=4)
    loaded = round_trip(net, tmp_path)
    assert loaded["a"] is loaded["c"]
    assert_same_behaviour(net, loaded, np.array([[1.0, 2.0]], np.float32))


def test_checkpoint_bundle_holds_a_net_that_load_opens(tmp_path):
    net = _nested(1)
    meta, tensors = nio.net_to_bundle(net, prefix="net/")
    assert all(k.startswith("net/") for k in tensors)
    opt = {"optimizer/step": torch.tensor(7), "optimizer/m.0": torch.ones(3)}
    path = tmp_path / "ckpt.netgrad"
    nio.write_bundle(path, {"net": meta, "net_prefix": "net/", "round": 3}, {**tensors, **opt})
    meta2, tensors2 = nio.read_bundle(path)
    assert meta2["round"] == 3 and torch.equal(tensors2["optimizer/m.0"], torch.ones(3))
    again = nio.net_from_bundle(meta2["net"], tensors2, prefix="net/")
    assert_same_structure(net, again)
    assert_same_structure(net, nio.load(path))

"""Net surgery (NetTake, NetDrop, NetExtract, NetReplacePart, NetFlatten, NetJoin, NetAppend,
NetPrepend, NetInsert, NetDelete) and NetInformation: new nets, arguments unchanged, arrays
copied (or shared with copy=False), shared arrays kept shared, values preserved."""

import io

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (DropoutLayer, LinearLayer, NetAppend, NetChain, NetDelete, NetDrop,
                     NetExtract, NetFlatten, NetGraph, NetInformation, NetInsert, NetJoin,
                     NetPort, NetPrepend, NetReplacePart, NetSharedArray, NetTake, SoftmaxLayer,
                     TotalLayer)

X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def _chain():
    return ng.NetInitialize(NetChain({"lin1": LinearLayer(4), "act": "Tanh",
                                      "lin2": LinearLayer(2), "sm": SoftmaxLayer()}, input=3),
                            seed=0)


def test_take_and_drop_keep_values_and_copy_arrays():
    c = _chain()
    part = NetTake(c, "lin1", "act")
    assert part.vertex_names() == ["lin1", "act"] and part.port_shape("Input") == (3,)
    w = c["lin1"].Weights.detach().numpy()
    np.testing.assert_allclose(part(X), np.tanh(X @ w.T + c["lin1"].Biases.detach().numpy()),
                               rtol=1e-6)
    assert NetTake(c, 2).vertex_names() == ["lin1", "act", "lin2"]
    assert part["lin1"].Weights is not c["lin1"].Weights  # copied
    with torch.no_grad():
        part["lin1"].Weights.zero_()
    assert c["lin1"].Weights.abs().sum() > 0  # the argument is unchanged
    shared = NetTake(c, "lin2", copy=False)
    assert shared["lin1"].Weights is c["lin1"].Weights
    tail = NetDrop(c, 2)
    np.testing.assert_allclose(tail(NetTake(c, "act")(X)), c(X), rtol=1e-6)
    assert NetDrop(c, -1).vertex_names() == ["lin1", "act", "lin2"]
    with pytest.raises(ng.NetValueError, match="start comes before end"):
        NetTake(c, "lin2", "lin1")
    with pytest.raises(ng.NetValueError, match="drops 1 to 3 layers"):
        NetDrop(c, 4)


def test_extract_vertices_and_arrays_by_path():
    c = _chain()
    np.testing.assert_array_equal(NetExtract(c, ("lin1", "Weights")),
                                  c["lin1"].Weights.detach().numpy())
    assert NetExtract(c, 0).config_text() == "LinearLayer(4)"
    nested = NetChain({"enc": c, "out": LinearLayer(1)}, input=3)
    assert NetExtract(nested, ("enc", "lin2", "Biases")).shape == (2,)
    assert NetExtract(nested, "enc", copy=False) is c
    with pytest.raises(ng.NetKeyError, match="no array 'Wrong'"):
        NetExtract(c, ("lin1", "Wrong"))
    with pytest.raises(ng.NetKeyError):
        NetExtract(c, "nope")


def test_replace_part_layers_and_arrays():
    c = _chain()
    r = NetReplacePart(c, {"act": "ReLU", ("lin2", "Biases"): [1.0, -1.0]})
    assert r["act"].config_text() == "ElementwiseLayer(ReLU)"
    assert c["act"].config_text() == "ElementwiseLayer(Tanh)"
    np.testing.assert_array_equal(r["lin2"].Biases.detach(), [1.0, -1.0])
    assert c["lin2"].Biases.abs().sum() == 0
    with pytest.raises(ng.ShapeError):
        NetReplacePart(c, {"lin1": LinearLayer(4, input=5)})
    placeholder = NetChain([ng.PlaceholderLayer(output_shapes={"Output": (4,)}, Input=(3,)),
                            "Tanh"])
    filled = ng.NetInitialize(NetReplacePart(placeholder, {0: LinearLayer(4)}), seed=0)
    assert filled(X).shape == (4, 4)


def test_building_chains():
    c = _chain()
    assert NetAppend(c, {"extra": LinearLayer(3)}).vertex_names()[-1] == "extra"
    assert NetPrepend(c, [LinearLayer(3)]).vertex_names()[0] == "0"
    ins = NetInsert(c, {"drop": DropoutLayer(0.1)}, "lin2")
    assert ins.vertex_names() == ["lin1", "act", "drop", "lin2", "sm"]
    np.testing.assert_allclose(ins(X), c(X), rtol=1e-6)  # dropout is off in evaluation
    joined = NetJoin(NetTake(c, "act"), NetDrop(c, 2))
    np.testing.assert_allclose(joined(X), c(X), rtol=1e-6)
    positional = NetJoin(NetChain([LinearLayer(2)], input=3), NetChain(["Tanh", "Ramp"]))
    assert positional.vertex_names() == ["0", "1", "2"]


def test_delete_rewires_graphs_and_flatten_inlines():
    g = NetGraph({"a": LinearLayer(3), "b": "Ramp", "c": "Tanh", "t": TotalLayer()},
                 [("a", "b", "t"), ("a", "c"), ("c", "t")], Input=2)
    d = NetDelete(g, "c")
    assert d.input_names() == ("Input", "Input2") and d.port_shape("Input2") == (3,)
    assert NetTake(g, "a", "b").vertex_names() == ["a", "b"]
    outer = ng.NetInitialize(NetGraph({"inner": g, "post": LinearLayer(1)}, [("inner", "post")],
                                      Input=2), seed=0)
    flat = NetFlatten(outer)
    assert flat.vertex_names() == ["inner/a", "inner/b", "inner/c", "inner/t", "post"]
    x = np.array([[0.5, -1.0]], dtype="float32")
    np.testing.assert_allclose(flat(x), outer(x), rtol=1e-6)
    chain = NetChain([NetChain([LinearLayer(3), "Tanh"]), NetChain([LinearLayer(2)])], input=2)
    assert NetFlatten(chain).vertex_names() == ["0/0", "0/1", "1/0"]


def test_shared_arrays_stay_shared_in_copies():
    w = NetSharedArray("w")
    g = ng.NetInitialize(NetGraph({"l": LinearLayer(2, weights=w), "r": LinearLayer(2, weights=w),
                                   "t": TotalLayer()},
                                  [(NetPort("X"), "l"), (NetPort("Y"), "r"), (["l", "r"], "t")],
                                  X=2, Y=2), seed=0)
    part = NetDelete(g, "t")
    assert part["l"].Weights is part["r"].Weights
    assert part["l"].Weights is not g["l"].Weights


def test_information():
    c = _chain()
    assert NetInformation(c, "ArraysCount") == 4
    assert NetInformation(c, "ArraysTotalElementCount") == 4 * 3 + 4 + 2 * 4 + 2
    assert NetInformation(c, "LayerTypeCounts") == {"ElementwiseLayer": 1, "LinearLayer": 2,
                                                    "SoftmaxLayer": 1}
    assert list(NetInformation(c, "Layers")) == [("lin1",), ("act",), ("lin2",), ("sm",)]
    assert NetInformation(c, "InputPorts") == {"Input": (3,)}
    assert NetInformation(c, "OutputPorts") == {"Output": (2,)}
    w = NetSharedArray("w")
    tied = NetChain([LinearLayer(3, weights=w, input=3), LinearLayer(3, weights=w)])
    assert NetInformation(tied, "ArraysCount") == 3  # the shared weights once, two biases
    with pytest.raises(ng.NetKeyError, match="ArraysCount"):
        NetInformation(c, "ArrayCount")


def test_information_without_a_property_is_every_fact_and_a_jupyter_table():
    c = _chain()
    facts = NetInformation(c)
    assert set(facts) == set(ng.net._information.PROPERTIES) - {"SummaryGraphic"}
    assert facts["ArraysCount"] == NetInformation(c, "ArraysCount")
    html = facts._repr_html_()
    assert html.count("<tr>") == len(facts)
    assert "<th style='text-align:left'>LayerTypeCounts</th><td>ElementwiseLayer: 1<br>" in html
    assert "lin1: LinearLayer" in html and "Input: (3,)" in html and "lin1/Weights: 12" in html


def test_summary_graphic_is_a_picture_of_the_net_and_its_facts():
    fig = NetInformation(_chain(), "SummaryGraphic")
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()}
    assert {"layer:lin1", "layer:sm", "summary:table"} <= gids
    table = next(a for ax in fig.axes for a in ax.get_children() if a.get_gid() == "summary:table")
    text = table.get_text()
    assert "LinearLayer  ×2" in text and "26 numbers" in text and "Input  (3,)" in text
    png = io.BytesIO()
    fig.savefig(png, format="png")
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_information_without_a_property_is_a_dict_shown_as_a_table():
    facts = NetInformation(_chain())
    assert isinstance(facts, dict) and "SummaryGraphic" not in facts
    page = facts._repr_html_()
    assert "ArraysTotalElementCount</th><td>26</td>" in page
    assert "lin1: LinearLayer" in page and "Input: (3,)" in page

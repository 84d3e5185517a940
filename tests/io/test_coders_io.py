"""Encoders and decoders save and load as data; crafted coder records are refused."""

import json
import struct

import numpy as np
import pytest

import netgrad as ng
from netgrad import (ConvolutionLayer, FlattenLayer, LinearLayer, NetChain, NetGraph,
                     NetInitialize, PoolingLayer, SoftmaxLayer)
from netgrad.demo import sample_image
from netgrad.encoders import NetDecoder, NetEncoder

LABELS = ["circle", "square", "triangle"]


def classifier():
    return NetInitialize(NetChain(
        [ConvolutionLayer(2, 3), "Ramp", PoolingLayer(2, 2), FlattenLayer(), LinearLayer(3),
         SoftmaxLayer()], input=NetEncoder("Image", size=(10, 10), mean=0.5, variance=0.2),
        output=NetDecoder("Class", LABELS)), seed=0)


def _doc(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:], json.loads(header["__metadata__"]["netgrad"])


def _rewrite(path, header, data, doc):
    header["__metadata__"]["netgrad"] = json.dumps(doc)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_a_classifier_with_coders_round_trips(tmp_path):
    net = classifier()
    path = tmp_path / "clf.netgrad"
    ng.save(net, path)
    back = ng.load(path)
    assert back.encoders() == net.encoders() and back.decoders() == net.decoders()
    assert repr(back) == repr(net)
    img = sample_image(16)
    assert back(img) == net(img)
    assert back(img, "Probabilities") == pytest.approx(net(img, "Probabilities"))
    np.testing.assert_array_equal(back(img, ng.NetPortGradient("Input")),
                                  net(img, ng.NetPortGradient("Input")))


def test_nested_coders_and_every_kind(tmp_path):
    inner = NetChain([LinearLayer(1), ng.ElementwiseLayer("LogisticSigmoid")],
                     input=NetEncoder("Class", ["a", "b", 3], output="UnitVector"),
                     output=NetDecoder("Boolean"))
    net = NetInitialize(NetGraph({"inner": inner}), seed=1)
    path = tmp_path / "n.netgrad"
    ng.save(net, path)
    back = ng.load(path)
    assert back.encoders() == net.encoders() and back["inner"].decoders() == inner.decoders()
    assert back(["a", 3]) == net(["a", 3])
    for enc in [NetEncoder("Tokens", ["x", "y"], length=4), NetEncoder("Characters", "ab", length=2)]:
        e = NetInitialize(NetChain([ng.EmbeddingLayer(2, 5), FlattenLayer()], input=enc))
        ng.save(e, path)
        assert ng.load(path).encoders() == {"Input": enc}


def test_a_function_encoder_is_refused_at_save(tmp_path):
    net = NetChain([LinearLayer(1)], input=NetEncoder("Function", lambda s: [len(s)], shape=1))
    with pytest.raises(ng.NetTypeError, match="holds code") as e:
        ng.save(net, tmp_path / "f.netgrad")
    assert 'port "Input"' in e.value.where and e.value.fix


@pytest.mark.parametrize("edit", [
    lambda n: n.__setitem__("encoders", {"Input": {"kind": "Function", "config": {"function": "print"}}}),
    lambda n: n.__setitem__("encoders", {"Input": {"kind": "Image", "config": {"size": [10, 10], "code": "x"}}}),
    lambda n: n.__setitem__("encoders", ["Input"]),
    lambda n: n.__setitem__("decoders", {"Output": {"kind": "Class", "config": {"labels": ["a"]}}}),
    lambda n: n.__setitem__("decoders", {"Nope": {"kind": "Scalar", "config": {}}}),
    lambda n: n.__setitem__("encoders", {"Input": {"kind": "Image", "config": {"size": [9, 10]}}}),
])
def test_crafted_coder_records_are_load_errors(tmp_path, edit):
    path = tmp_path / "clf.netgrad"
    ng.save(classifier(), path)
    header, data, doc = _doc(path)
    edit(doc["meta"]["net"]["nodes"][-1])
    _rewrite(path, header, data, doc)
    with pytest.raises(ng.LoadError) as e:
        ng.load(path)
    assert e.value.where and e.value.rule and e.value.got

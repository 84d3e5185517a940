"""Encoders and decoders as data (for saved nets): round trips, and crafted data refused."""

import json

import pytest

from netgrad import LoadError, NetTypeError
from netgrad.encoders import NetDecoder, NetEncoder
from netgrad.encoders._data import coder_from_data, coder_to_data

CODERS = [("encoder", NetEncoder("Image", size=(4, 3), color_space="Grayscale", mean=0.5,
                                 variance=2.0, resize=False, resampling="box")),
          ("encoder", NetEncoder("Class", ["a", 1, 2.5, False], output="UnitVector")),
          ("encoder", NetEncoder("Scalar")), ("encoder", NetEncoder("Boolean")),
          ("encoder", NetEncoder("Characters", "xyz", ignore_case=True, length=3)),
          ("encoder", NetEncoder("Tokens", ["a", "b"], unknown=False, length=2)),
          ("decoder", NetDecoder("Class", ["x", "y"])),
          ("decoder", NetDecoder("Image", "RGB", mean=[0.1, 0.2, 0.3])),
          ("decoder", NetDecoder("Scalar")), ("decoder", NetDecoder("Boolean"))]


@pytest.mark.parametrize("family,coder", CODERS, ids=lambda c: getattr(c, "kind", c))
def test_round_trip_through_json(family, coder):
    data = json.loads(json.dumps(coder_to_data(coder, "here")))
    again = coder_from_data(data, family, "here")
    assert again == coder and repr(again) == repr(coder)


def test_function_encoders_are_code_and_are_not_saved():
    with pytest.raises(NetTypeError, match="holds code") as e:
        coder_to_data(NetEncoder("Function", len), 'net, port "Input"')
    assert e.value.fix and e.value.where


@pytest.mark.parametrize("data", [
    None, [], {"kind": "Image"}, {"kind": "Image", "config": {}, "extra": 1},
    {"kind": "Function", "config": {"function": "os.system"}},
    {"kind": "__import__", "config": {}},
    {"kind": "Image", "config": {"size": [4, 4], "__class__": "x"}},
    {"kind": "Image", "config": {"size": {"w": 4}}},
    {"kind": "Image", "config": {"size": [4, 4], "mean": [[0.1]]}},
    {"kind": "Image", "config": {"size": [-1, 4]}},
    {"kind": "Class", "config": {"labels": []}},
    {"kind": "Class", "config": {"labels": ["a", "a"]}},
    {"kind": "Tokens", "config": {"tokens": ["a"], "length": "10"}},
])
def test_crafted_data_is_refused(data):
    with pytest.raises(LoadError) as e:
        coder_from_data(data, "encoder", "the saved net, node 3")
    assert e.value.where == "the saved net, node 3" and e.value.got and e.value.fix


def test_decoder_kinds_are_checked_separately():
    with pytest.raises(LoadError, match="kinds"):
        coder_from_data({"kind": "Tokens", "config": {"tokens": ["a"]}}, "decoder", "x")

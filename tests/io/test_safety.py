"""Loading validates everything and executes nothing: crafted files, corruptions, fuzzing."""

import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netgrad as ng
import netgrad.io as nio
from netgrad import ElementwiseLayer, LinearLayer, NetChain, NetInitialize, ThreadingLayer

LoadError = ng.LoadError


def _valid_net():
    return NetInitialize(NetChain({"lin": LinearLayer(3, input=2), "act": "Tanh",
                                   "f": ElementwiseLayer(lambda x: x * torch.sigmoid(x)),
                                   "out": LinearLayer(1)}), seed=0)


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "net.netgrad"
    nio.save(_valid_net(), path)
    return path.read_bytes()


def _split(raw: bytes):
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def _join(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _with_doc(raw: bytes, edit) -> bytes:
    """The file with its netgrad JSON document changed by ``edit(doc)`` (in place)."""
    header, data = _split(raw)
    doc = json.loads(header["__metadata__"]["netgrad"])
    edit(doc)
    header["__metadata__"]["netgrad"] = json.dumps(doc)
    return _join(header, data)


def _load_bytes(tmp_path, raw: bytes, name="x.netgrad"):
    path = tmp_path / name
    path.write_bytes(raw)
    return nio.load(path)


def _nodes(doc):
    return doc["meta"]["net"]["nodes"]


def _layer(doc, kind):
    return next(n for n in _nodes(doc) if n.get("type") == kind)


def _fn_nodes(doc):
    """The traced nodes of the user function in the valid net."""
    return next(n for n in _nodes(doc) if isinstance(n.get("config", {}).get("function"), dict)
                )["config"]["function"]["nodes"]


# ---- crafted files run nothing ------------------------------------------------------------------

class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_a_pickle_payload_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.netgrad").write_bytes(pickle.dumps(_Boom()))
    torch.save({"x": _Boom()}, tmp_path / "t.netgrad")
    for name in ("p.netgrad", "t.netgrad"):
        with pytest.raises(LoadError):
            nio.load(tmp_path / name)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.mark.parametrize("edit, match", [
    (lambda d: _layer(d, "ElementwiseLayer").update(type="os.system"), "os.system"),
    (lambda d: _layer(d, "ElementwiseLayer").update(type="__import__"), "__import__"),
    (lambda d: _fn_nodes(d).__setitem__(
        1, {"op": "os.system", "args": ["touch PWNED"], "kwargs": {}}), "os.system"),
    (lambda d: _fn_nodes(d).__setitem__(
        1, {"op": "builtins.eval", "args": [{"node": 0}], "kwargs": {}}), "builtins.eval"),
    (lambda d: _layer(d, "ElementwiseLayer")["config"].update(function="__import__('os')"),
     "ElementwiseLayer knows the functions"),
    (lambda d: _fn_nodes(d).__setitem__(
        2, {"op": "operator.mul", "args": ["a", 10**15], "kwargs": {}}),
     "uses the value of an earlier node"),
])
def test_crafted_names_are_refused_and_not_run(edit, match, valid_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError, match=match):
        _load_bytes(tmp_path, _with_doc(valid_file, edit))
    assert not any(p.name.startswith("PWNED") for p in tmp_path.iterdir())


# ---- each kind of damage gives a clear LoadError ------------------------------------------------

def _set_linear_n(d, n):
    [n_ for n_ in _nodes(d) if n_.get("type") == "LinearLayer"][-1]["config"]["n"] = n


def _deep(depth):
    v = 0
    for _ in range(depth):
        v = [v]
    return v


@pytest.mark.parametrize("edit, match", [
    (lambda d: _layer(d, "LinearLayer").update(type="LinearLayr"), "did you mean 'LinearLayer'"),
    (lambda d: _layer(d, "LinearLayer")["arrays"].pop("Biases"), "missing arrays"),
    (lambda d: _layer(d, "LinearLayer")["arrays"].update(Extra={"state": "absent"}),
     "extra arrays"),
    (lambda d: _layer(d, "LinearLayer")["arrays"]["Weights"].update(key="nope"), "missing array"),
    (lambda d: _set_linear_n(d, 4), "shape the layer gives it"),
    (lambda d: _set_linear_n(d, [100000, 100000]), "at most"),
    (lambda d: _layer(d, "LinearLayer")["arrays"]["Biases"].update(
        state="uninitialized", shape=[2**40], dtype="float32"), "at most"),
    (lambda d: _layer(d, "LinearLayer")["config"].update(bogus=1), "unexpected keyword"),
    (lambda d: d["meta"]["net"]["nodes"].insert(0, d["meta"]["net"]["nodes"][0]), "root"),
    (lambda d: d["meta"]["net"].update(version=99), "version"),
    (lambda d: d["meta"]["net"]["nodes"][-1]["edges"].pop(), "rewires exactly as saved"),
    (lambda d: d["meta"]["net"]["nodes"][-1]["vertices"][0].__setitem__(1, 99), "earlier node"),
    (lambda d: d["meta"].update(deep=_deep(200)), "nest"),
    (lambda d: d["meta"].update(huge="x" * 2**17), "at most"),
    (lambda d: d.update(version=2), "version"),
])
def test_damaged_structure_gives_a_clear_load_error(edit, match, valid_file, tmp_path):
    with pytest.raises(LoadError, match=match) as e:
        _load_bytes(tmp_path, _with_doc(valid_file, edit))
    assert "x.netgrad" in str(e.value)


def test_threading_arity_bomb_is_refused(tmp_path):
    nio.save(ThreadingLayer("Plus"), tmp_path / "t.netgrad")
    raw = _with_doc((tmp_path / "t.netgrad").read_bytes(),
                    lambda d: _nodes(d)[0]["config"].update(n=10**9))
    with pytest.raises(LoadError, match="1 to"):
        _load_bytes(tmp_path, raw)


def test_wrong_dtype_is_refused(tmp_path):
    meta, tensors = nio.net_to_bundle(_valid_net())
    tensors = {k: v.to(torch.int32) if k == "lin.Weights" else v for k, v in tensors.items()}
    nio.write_bundle(tmp_path / "d.netgrad", {"net": meta}, tensors)
    with pytest.raises(LoadError, match="floating point"):
        nio.load(tmp_path / "d.netgrad")


def test_extra_stored_array_is_refused(tmp_path):
    meta, tensors = nio.net_to_bundle(_valid_net())
    nio.write_bundle(tmp_path / "e.netgrad", {"net": meta}, {**tensors, "x.Weights": torch.ones(1)})
    with pytest.raises(LoadError, match="extra arrays"):
        nio.load(tmp_path / "e.netgrad")


def test_truncated_and_bit_flipped_files(valid_file, tmp_path):
    for cut in (0, 7, 8, 100, len(valid_file) // 2, len(valid_file) - 1):
        with pytest.raises(LoadError):
            _load_bytes(tmp_path, valid_file[:cut])
    header, data = _split(valid_file)
    flipped = bytearray(valid_file)
    flipped[len(valid_file) - len(data) + 5] ^= 0x10
    with pytest.raises(LoadError, match="checksum"):
        _load_bytes(tmp_path, bytes(flipped))
    with pytest.raises(LoadError, match="not fully covered|fits"):
        _load_bytes(tmp_path, valid_file + b"\0" * 8)


def test_a_plain_safetensors_file_is_refused_with_a_hint(tmp_path):
    from safetensors.torch import save_file
    save_file({"w": torch.ones(2)}, tmp_path / "s.safetensors")
    with pytest.raises(LoadError, match="safetensors file that netgrad did not write"):
        nio.load(tmp_path / "s.safetensors")


def test_error_messages_say_where_the_rule_what_and_a_fix(valid_file, tmp_path):
    raw = _with_doc(valid_file, lambda d: _layer(d, "LinearLayer").update(type="Linear"))
    with pytest.raises(LoadError) as e:
        _load_bytes(tmp_path, raw)
    text = str(e.value)
    assert "x.netgrad" in text and "node" in text  # where
    assert "registered layers" in text  # the rule
    assert "got 'Linear'" in text  # what was received
    assert "Fix: did you mean 'LinearLayer'?" in text and isinstance(e.value, ValueError)


# ---- fuzzing ------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _loads_or_refuses(tmp_path, raw: bytes) -> None:
    try:
        net = _load_bytes(tmp_path, raw, "fuzz.netgrad")
    except LoadError:
        return
    # A mutation the loader accepts must still give a working net (e.g. a changed JSON number
    # that is still valid): evaluating it may fail only with netgrad's own errors.
    try:
        net(np.zeros(2, np.float32))
    except ng.NetgradError:
        pass


@_FUZZ
@given(data=st.data())
def test_fuzz_byte_mutations(valid_file, tmp_path, data):
    raw = bytearray(valid_file)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and raw:
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:i + data.draw(st.integers(1, 64))]
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    _loads_or_refuses(tmp_path, bytes(raw))


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() |
                     st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4) |
                     st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


@_FUZZ
@given(data=st.data())
def test_fuzz_json_mutations(valid_file, tmp_path, data):
    """Replace one value anywhere in the net's JSON document with arbitrary JSON."""
    header, blob = _split(valid_file)
    doc = json.loads(header["__metadata__"]["netgrad"])
    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, path + (i,))

    walk(doc["meta"], ("meta",))
    path = data.draw(st.sampled_from(paths[1:]))
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = data.draw(_json)
    header["__metadata__"]["netgrad"] = json.dumps(doc)
    _loads_or_refuses(tmp_path, _join(header, blob))

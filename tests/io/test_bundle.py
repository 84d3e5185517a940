"""write_bundle / read_bundle: the format checkpoints share with saved nets."""

import json
import os

import pytest
import torch

import netgrad as ng
import netgrad.io as nio


def test_round_trip_keeps_meta_dtypes_shapes_and_values(tmp_path):
    base = torch.arange(12.0)
    tensors = {"w": base.reshape(3, 4), "view": base[2:5], "alias": base.reshape(4, 3),
               "step": torch.tensor(7), "bf": torch.ones(2, dtype=torch.bfloat16),
               "mask": torch.tensor([True, False]), "empty": torch.zeros(0, 3),
               "rng": torch.get_rng_state(), "f64": torch.tensor([1e-300], dtype=torch.float64)}
    meta = {"step": 7, "history": [0.5, float("nan"), None], "cfg": {"lr": 1e-3, "name": "adam"},
            "t": (1, 2)}
    nio.write_bundle(tmp_path / "b.netgrad", meta, tensors)
    meta2, tensors2 = nio.read_bundle(tmp_path / "b.netgrad")
    assert meta2["step"] == 7 and meta2["cfg"] == meta["cfg"] and meta2["t"] == [1, 2]
    assert meta2["history"][0] == 0.5 and meta2["history"][1] != meta2["history"][1]
    assert tensors2.keys() == tensors.keys()
    for k, t in tensors.items():
        assert tensors2[k].dtype == t.dtype and torch.equal(tensors2[k], t), k


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "c.netgrad"
    nio.write_bundle(path, {"v": 1}, {"x": torch.ones(2)})
    with pytest.raises(ng.NetTypeError):
        nio.write_bundle(path, {"v": object()}, {"x": torch.ones(2)})
    with pytest.raises(ng.NetTypeError):
        nio.write_bundle(path, {"v": 2}, {"x": torch.ones(2, dtype=torch.complex64)})
    assert os.listdir(tmp_path) == ["c.netgrad"]
    assert nio.read_bundle(path)[0] == {"v": 1}


@pytest.mark.parametrize("meta, match", [
    ({1: "int key"}, "keys must be strings"),
    ({"t": torch.ones(1)}, "only dicts, lists"),
    ({"s": "x" * 2**17}, "at most"),
])
def test_meta_that_would_not_round_trip_is_refused_at_write(meta, match, tmp_path):
    with pytest.raises(ng.NetgradError, match=match):
        nio.write_bundle(tmp_path / "m.netgrad", meta, {})


def test_records_and_stored_tensors_must_agree(tmp_path):
    from safetensors.torch import save_file
    doc = {"format": "netgrad.bundle", "version": 1, "meta": {},
           "arrays": {"a": {"dtype": "float32", "shape": [2], "sha256": "0" * 64}}}
    save_file({"b": torch.ones(2)}, tmp_path / "x.netgrad", metadata={"netgrad": json.dumps(doc)})
    with pytest.raises(ng.LoadError, match="without one"):
        nio.read_bundle(tmp_path / "x.netgrad")
    save_file({"a": torch.ones(3)}, tmp_path / "x.netgrad", metadata={"netgrad": json.dumps(doc)})
    with pytest.raises(ng.LoadError, match="as its record says"):
        nio.read_bundle(tmp_path / "x.netgrad")
    save_file({"a": torch.ones(2)}, tmp_path / "x.netgrad", metadata={"netgrad": json.dumps(doc)})
    with pytest.raises(ng.LoadError, match="checksum"):
        nio.read_bundle(tmp_path / "x.netgrad")
    dup = '{"format": "netgrad.bundle", "format": "x", "version": 1, "meta": {}, "arrays": {}}'
    save_file({}, tmp_path / "x.netgrad", metadata={"netgrad": dup})
    with pytest.raises(ng.LoadError, match="duplicate key"):
        nio.read_bundle(tmp_path / "x.netgrad")


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        nio.read_bundle(tmp_path / "none.netgrad")


def test_limits_are_configurable(tmp_path):
    nio.write_bundle(tmp_path / "l.netgrad", {"a": [[[1]]]}, {})
    with pytest.raises(ng.LoadError, match="nests at most 3"):
        nio.read_bundle(tmp_path / "l.netgrad", limits=nio.Limits(max_depth=3))

"""Misuses of saving and loading: paths, what is saved, and files that are not netgrad nets."""

from __future__ import annotations

import os
import tempfile

import torch

import netgrad as ng
from netgrad import ElementwiseLayer, LinearLayer, NetChain, NetInitialize
from netgrad.layers import Layer

from _misuse import Misuse, check, params

V, T, K, L, F, M = (ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.LoadError,
                    ng.FileError, ng.MissingFileError)

_DIR = tempfile.mkdtemp(prefix="netgrad-misuse-")


def _path(name):
    return os.path.join(_DIR, name)


def _net():
    return NetInitialize(NetChain({"lin": LinearLayer(2)}, input=3), seed=0)


def _write(name, data: bytes):
    with open(_path(name), "wb") as f:
        f.write(data)
    return _path(name)


def _edited(edit):
    """A saved net whose JSON structure was edited by ``edit(meta)``."""
    from netgrad.io import read_bundle, write_bundle
    p = _path("edited.netgrad")
    ng.save(_net(), p)
    meta, tensors = read_bundle(p)
    edit(meta["net"])
    write_bundle(p, meta, tensors)
    return p


class Unregistered(Layer):
    def forward(self, x):
        return x


class Stray(Layer):
    def __init__(self):
        super().__init__()
        self.extra = torch.nn.Parameter(torch.zeros(2))
        self._setup(Input=2)

    def forward(self, x):
        return x + self.extra


ROWS = [
    Misuse("load a missing file", lambda: ng.load(_path("missing.netgrad")), M, "load"),
    Misuse("load a folder", lambda: ng.load(_DIR), F, "load"),
    Misuse("load a path that is a number", lambda: ng.load(5), T, "load"),
    Misuse("load a text file", lambda: ng.load(_write("text.netgrad", b"hello, world\n" * 4)), L,
           "text.netgrad"),
    Misuse("load an empty file", lambda: ng.load(_write("empty.netgrad", b"")), L,
           "empty.netgrad"),
    Misuse("load a truncated file", lambda: ng.load(_write("cut.netgrad", _saved_bytes()[:-7])), L,
           "cut.netgrad"),
    Misuse("save into a missing folder", lambda: ng.save(_net(), _path("no/such/net.netgrad")), F,
           "save"),
    Misuse("save onto a folder", lambda: ng.save(_net(), _DIR), F, "save"),
    Misuse("save to a path that is a number", lambda: ng.save(_net(), 7), T, "save"),
    Misuse("save something that is not a net", lambda: ng.save({"w": 1}, _path("d.netgrad")), T,
           "save"),
    Misuse("save a torch module", lambda: ng.save(torch.nn.Linear(2, 2), _path("t.netgrad")), T,
           "save"),
    Misuse("save a function that cannot be rebuilt",
           lambda: ng.save(NetChain({"f": ElementwiseLayer(lambda x: torch.special.erfcx(x))},
                                    input=2), _path("f.netgrad")), V, "ElementwiseLayer"),
    Misuse("save a layer type that is not registered",
           lambda: ng.save(NetChain({"u": Unregistered()}, input=2), _path("u.netgrad")), T,
           "Unregistered"),
    Misuse("save a layer with undeclared parameters",
           lambda: ng.save(NetChain({"s": _registered(Stray)()}, input=2), _path("s.netgrad")), T,
           "Stray"),
    Misuse("load a file with an unknown layer type",
           lambda: ng.load(_edited(lambda m: m["nodes"][0].update(type="LinearLayers"))), L,
           "node 0"),
    Misuse("load a file whose array has the wrong shape",
           lambda: ng.load(_edited(lambda m: m["nodes"][0]["config"].update(n=4))), L, "node 0"),
    Misuse("load a file with a missing array record",
           lambda: ng.load(_edited(lambda m: m["nodes"][0]["arrays"].pop("Biases"))), L, "node 0"),
    Misuse("load a file of another format version",
           lambda: ng.load(_edited(lambda m: m.update(version=99))), L, "the saved net"),
    Misuse("read_bundle of a missing file", lambda: ng.io.read_bundle(_path("nope.bundle")), M,
           "read_bundle"),
    Misuse("write_bundle of metadata that is not JSON",
           lambda: ng.io.write_bundle(_path("b.bundle"), {"x": object()}, {}), T, None),
]


def _saved_bytes() -> bytes:
    p = _path("whole.netgrad")
    ng.save(_net(), p)
    with open(p, "rb") as f:
        return f.read()


def _registered(cls):
    ng.layers.register_layer(cls)
    return cls


@params(ROWS)
def test_io_misuse(row):
    check(row)


"""Problems that used to pass silently: each now either works as a user expects or says so."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import LinearLayer, NetChain, NetInitialize, NetPortGradient


def _net():
    return NetChain({"lin": LinearLayer(2)}, input=3)


def test_float64_tensors_are_evaluated_and_returned_in_float64():
    net = NetInitialize(_net(), seed=0)
    x = torch.tensor([1.0, 2.0, 1e-9], dtype=torch.float64)
    y = net(x)
    assert y.dtype == torch.float64
    w, b = net["lin"].Weights.double(), net["lin"].Biases.double()
    assert torch.equal(y, w @ x + b)  # computed in float64, not rounded through float32
    assert net(x, NetPortGradient("Input")).dtype == torch.float64
    assert net(x.float()).dtype == torch.float32 and net(x, precision="float32").dtype == torch.float32
    assert isinstance(net(np.zeros(3)), np.ndarray) and net(np.zeros(3)).dtype == np.float32
    assert net["lin"].Weights.dtype == torch.float32  # the net is not converted


def test_in_place_initialization_keeps_an_optimizer_working():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    same = NetInitialize(net, seed=0, in_place=True)
    assert same is net and net.is_initialized()
    before = net["lin"].Weights.detach().clone()
    net.forward(torch.ones(4, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, net["lin"].Weights)


def test_an_optimizer_of_the_replaced_arrays_warns_at_its_step():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net = NetInitialize(net, seed=0)  # a copy: opt holds the old, uninitialized arrays
    net.forward(torch.ones(4, 3)).sum().backward()
    with pytest.warns(ng.StaleArraysWarning, match=r"in_place=True"):
        opt.step()
    fresh = torch.optim.SGD(net.parameters(), lr=0.1)
    fresh.step()  # an optimizer of the returned net does not warn (warnings are errors here)


def test_a_threading_function_that_changes_the_shape_is_refused():
    net = ng.NetGraph({"t": ng.ThreadingLayer(lambda a, b: (a * b).sum(-1, keepdim=True))}, [],
                      Input1=3, Input2=3)
    with pytest.raises(ng.ShapeError, match="broadcast shape") as e:
        net({"Input1": [1.0, 2.0, 3.0], "Input2": [1.0, 1.0, 1.0]})
    assert '"t" (ThreadingLayer)' in e.value.where


def test_a_bad_state_dict_changes_nothing():
    net = NetInitialize(NetChain({"a": LinearLayer(2), "b": LinearLayer(2)}, input=3), seed=0)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    bad = dict(state)
    bad["vertices.a.Weights"] = torch.full((2, 3), 7.0)  # fits, would be copied first
    bad["vertices.b.Weights"] = torch.zeros(3, 2)        # does not fit
    with pytest.raises(ng.ShapeError):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k

"""The evaluation record: built once by evaluation, read by the checks and the diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import All, LinearLayer, NetChain, NetInitialize, NetPortGradient
from netgrad.net import _evaluate
from netgrad.net._record import build_record


def _net():
    return NetInitialize(NetChain({"lin": LinearLayer(2), "act": "Tanh"}, input=3), seed=0)


def test_the_record_holds_what_the_evaluation_decided():
    net = _net()
    r = build_record(net, {"Input": [1.0, 2.0, 3.0], NetPortGradient("Output"): [1.0, -1.0]},
                     [NetPortGradient("Input"), NetPortGradient(("lin", "Weights"))],
                     precision="float64")
    assert not r.batch and r.tensors["Input"].shape == (1, 3) and r.dtype == torch.float64
    assert r.tensors["Input"].requires_grad
    assert set(r.arrays) == {n for n, _ in net.named_parameters()}
    assert all(a.dtype == torch.float64 for a in r.arrays.values())
    assert r.output_grads["Output"].shape == (1, 2) and r.rng_state is None
    assert [t.kind for t in r.targets.values()] == ["input", "array"] and r.request.keyed
    # in float32 the net's own arrays are used: no copies
    assert build_record(net, np.zeros((4, 3))).arrays == {}
    with r.arrays_in_use():
        assert net["lin"].Weights.dtype == torch.float64
    assert net["lin"].Weights.dtype == torch.float32


def test_every_evaluation_goes_through_the_registered_checker(monkeypatch):
    seen = []

    class Spy:
        def check_forward(self, record, outputs):
            seen.append(("forward", record.batch, tuple(outputs)))

        def check_backward(self, record, grads):
            seen.append(("backward", record.batch, tuple(grads)))

    monkeypatch.setattr(_evaluate, "_checker", Spy())
    net = _net()
    net(np.zeros((2, 3)), NetPortGradient("Input"))
    assert seen == [("forward", True, ("Output",)), ("backward", True, (NetPortGradient("Input"),))]


def test_float64_evaluation_and_check_gradients_leave_the_net_alone():
    net = _net()
    before = {n: (p, p.detach().clone()) for n, p in net.named_parameters()}
    net([0.1, 0.2, 0.3], NetPortGradient(All), precision="float64")
    assert ng.check_gradients(net, [0.1, 0.2, 0.3]).ok
    for n, p in net.named_parameters():
        assert p is before[n][0] and p.dtype == torch.float32 and torch.equal(p, before[n][1])


def test_locate_nonfinite_evaluates_in_the_precision_of_the_data():
    net = NetChain({"e": ng.ElementwiseLayer("Exp")}, input=1)
    x = torch.tensor([[100.0]], dtype=torch.float64)  # exp(100) overflows float32 only
    assert ng.debug.locate_nonfinite(net, {"Input": x}) is None
    r = ng.debug.locate_nonfinite(net, {"Input": x}, precision="float32")
    assert r is not None and r.path == ("e",) and r.n_posinf == 1


def test_forward_on_an_uninitialized_net_raises_instead_of_returning_nan():
    net = NetChain([LinearLayer(2), "Tanh"], input=3)
    with pytest.raises(ng.UninitializedError, match='array "Weights"') as e:
        net.forward(torch.zeros(4, 3))
    assert e.value.fix and "NetInitialize" in e.value.fix
    with pytest.raises(ng.UninitializedError):
        net[0].run_ports({"Input": torch.zeros(4, 3)})

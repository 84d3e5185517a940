"""A layer owns its arrays' state and its saved state: array_state, save_state, load_state."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import LinearLayer, NetChain, NetInitialize
from netgrad.layers import ArrayState, Layer, LayerState, register_layer


def test_array_states_follow_the_shape_and_the_values():
    layer = LinearLayer(2)
    assert [layer.array_state(n) for n in layer.array_names] == ["absent", "uninitialized"]
    layer.declare_port_shapes({"Input": 3})
    assert layer.array_state("Weights") == "uninitialized" and layer.array_shape("Weights") == (2, 3)
    layer.set_array("Weights", np.ones((2, 3)))
    assert layer.array_state("Weights") == "set" and not layer.is_initialized()
    layer.set_array("Biases", [0.0, 1.0])
    assert layer.is_initialized()
    with pytest.raises(ng.NetKeyError, match="has no array 'Bias'") as e:
        layer.array_state("Bias")
    assert e.value.fix and "Biases" in e.value.fix


def test_save_state_then_load_state_round_trips_values_dtypes_and_requires_grad():
    a = NetInitialize(LinearLayer(3, input=2), seed=0).to(torch.float64)
    a.Biases.requires_grad_(False)
    state = a.save_state()
    assert state.arrays["Weights"].state == "set" and state.arrays["Weights"].dtype == torch.float64
    b = LinearLayer(3, input=2)
    b.load_state(state)
    assert torch.equal(a.Weights, b.Weights) and b.Weights.dtype == torch.float64
    assert not b.Biases.requires_grad and b.is_initialized()
    b.Weights.data.add_(1)  # loaded values are copies
    assert not torch.equal(a.Weights, b.Weights)


def test_uninitialized_state_stays_uninitialized():
    state = LinearLayer(3, input=2).save_state()
    assert state.arrays["Weights"] == ArrayState("uninitialized", (3, 2), torch.float32, True)
    b = LinearLayer(3)
    b.load_state(state)
    assert b.array_state("Weights") == "uninitialized" and b.array_shape("Weights") == (3, 2)


def test_a_state_that_does_not_fit_changes_nothing():
    b = NetInitialize(LinearLayer(3, input=2), seed=1)
    before = {n: getattr(b, n).detach().clone() for n in b.array_names}
    good = NetInitialize(LinearLayer(3, input=2), seed=2).save_state()
    wrong_shape = LayerState({"Weights": good.arrays["Weights"],
                              "Biases": ArrayState("set", (4,), torch.float32, True, torch.zeros(4))})
    with pytest.raises(ng.ShapeError, match=r'array "Biases".*shape the layer gives it') as e:
        b.load_state(wrong_shape)
    assert e.value.got == "got (4,)" and e.value.fix
    with pytest.raises(ng.NetKeyError, match="one entry per array"):
        b.load_state(LayerState({"Weights": good.arrays["Weights"]}))
    with pytest.raises(ng.NetTypeError, match="LayerState"):
        b.load_state({"Weights": good.arrays["Weights"]})  # type: ignore[arg-type]
    for n, v in before.items():  # the first array of the failed state was not applied
        assert torch.equal(getattr(b, n), v)


@register_layer
class RunningMeanLayer(Layer):
    """A custom layer that creates a buffer once it knows its input shape (after construction)."""

    def __init__(self, *, input=None):
        super().__init__()
        self._setup(Input=input)

    def infer_outputs(self, shapes):
        return {"Output": shapes["Input"]}

    def bind(self, shapes):
        out = super().bind(shapes)
        s = self.port_shape("Input")
        if s is not None and "running" not in self._buffers:
            self.register_buffer("running", torch.zeros(s))
        return out

    def forward(self, x):
        return x - self.running

    def get_config(self):
        return self._with_input({})


def test_buffers_created_after_construction_are_saved_and_loaded(tmp_path):
    net = NetChain({"m": RunningMeanLayer()}, input=3)
    net["m"].running.copy_(torch.tensor([1.0, 2.0, 3.0]))
    path = os.path.join(tmp_path, "m.netgrad")
    ng.save(net, path)
    back = ng.load(path)
    assert torch.equal(back["m"].running, torch.tensor([1.0, 2.0, 3.0]))
    assert np.allclose(back([1.0, 1.0, 1.0]), [0.0, -1.0, -2.0])
    # the layer state alone, onto a layer that has no buffer yet
    fresh = RunningMeanLayer()
    fresh.load_state(net["m"].save_state())
    assert torch.equal(fresh.running, net["m"].running)


def test_a_state_buffer_may_not_shadow_an_attribute():
    layer = RunningMeanLayer(input=2)
    state = LayerState({}, {"running": torch.zeros(2), "forward": torch.zeros(1)})
    with pytest.raises(ng.NetKeyError, match='buffer "forward"'):
        layer.load_state(state)
    assert "forward" not in dict(layer.named_buffers())


def test_declare_port_shapes_that_do_not_fit_leave_the_layer_alone():
    layer = LinearLayer(2, weights=np.zeros((2, 3)))
    with pytest.raises(ng.ShapeError):
        layer.declare_port_shapes({"Input": 4})
    assert layer.declared_port_shapes() == {"Input": (3,)}
    chain = NetChain([LinearLayer(2, input=3)])
    with pytest.raises(ng.ShapeError):
        chain.declare_port_shapes({"Input": 5})
    assert chain.declared_port_shapes() == {} and chain.port_shape("Input") == (3,)

"""ModuleLayer: any torch.nn.Module in a net (shapes from meta tensors, parameters as arrays in
NetPortGradient, training and summaries, robust() inside), saved as registered class + state."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import ModuleLayer, NetChain, NetPortGradient

F64 = torch.float64


def test_a_bare_module_in_a_chain_is_a_module_layer_with_inferred_shapes():
    net = NetChain([torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                    torch.nn.Linear(4 * 6 * 6, 3)], input=(1, 8, 8))
    assert all(isinstance(v, ModuleLayer) for v in net)
    assert net[0].port_shape("Output") == (4, 6, 6) and net.port_shape("Output") == (3,)
    assert net[0].array_names == ("weight", "bias")
    assert "ModuleLayer(Conv2d)" in repr(net) and "weight (4, 1, 3, 3)" in repr(net)
    x = torch.randn(2, 1, 8, 8)
    ref = torch.nn.Sequential(*[v.module for v in net])
    torch.testing.assert_close(net.forward(x), ref(x))


def test_parameters_are_arrays_for_netportgradient_and_float64():
    lin = torch.nn.Linear(3, 2)
    net = NetChain([lin, "Tanh"], input=3)
    x = np.random.default_rng(0).normal(size=(4, 3))
    g = net(x, NetPortGradient((0, "weight")), precision="float64")
    xt = torch.tensor(x, requires_grad=False)
    w = lin.weight.detach().double().requires_grad_()
    y = torch.tanh(xt @ w.T + lin.bias.detach().double()).sum()
    np.testing.assert_allclose(g, torch.autograd.grad(y, w)[0].numpy(), rtol=1e-12)
    assert set(net(x, NetPortGradient(ng.All))) == {
        NetPortGradient("Input"), NetPortGradient(("0", "weight")), NetPortGradient(("0", "bias"))}


def test_robust_inside_the_module():
    class Dist(torch.nn.Module):
        def forward(self, x):
            return torch.sqrt((x * x).sum(-1, keepdim=True))  # the norm at 0: NaN in plain torch

    layer = ModuleLayer(Dist(), input=3)
    g = layer(np.zeros(3), NetPortGradient("Input"))
    assert np.isfinite(g).all() and not g.any()


def test_training_updates_module_parameters_and_buffers():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(64, 4)).astype("float32")
    ys = (xs[:, 0] > 0).astype(int)
    net = NetChain([torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                    torch.nn.Linear(8, 2), ng.SoftmaxLayer()], input=4)
    before = net[0].module.weight.detach().clone()
    trained = ng.train(net, (xs, ys), max_training_rounds=10, batch_size=16, seed=0, progress=False,
                       learning_rate=0.05)
    assert not torch.equal(trained[0].module.weight, before)
    assert torch.equal(net[0].module.weight, before)  # train returns a new net
    assert trained[1].module.running_mean.abs().sum() > 0
    acc = (trained(xs).argmax(-1) == ys).mean()
    assert acc > 0.9


def test_save_and_load_need_the_class_registered(tmp_path):
    class Scale(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.w = torch.nn.Parameter(torch.linspace(1, 2, n))
            self.register_buffer("offset", torch.full((n,), 0.5))
            self.power = 2

        def forward(self, x):
            return (x * self.w) ** self.power + self.offset

    net = NetChain([Scale(3), torch.nn.Linear(3, 1)], input=3)
    with pytest.raises(ng.NetTypeError, match="registered") as e:
        ng.save(net, tmp_path / "a.netgrad")
    assert "register_layer(Scale)" in e.value.fix and not (tmp_path / "a.netgrad").exists()
    ng.register_layer(Scale)
    ng.save(net, tmp_path / "a.netgrad")
    again = ng.load(tmp_path / "a.netgrad")
    x = np.array([[1.0, -2.0, 0.5]])
    np.testing.assert_array_equal(again(x), net(x))
    assert again[0].module.power == 2 and torch.equal(again[0].module.offset, net[0].module.offset)
    from netgrad.layers import MODULE_TYPES
    del MODULE_TYPES[f"{Scale.__module__}.{Scale.__qualname__}"]
    with pytest.raises(ng.LoadError, match="registered"):
        ng.load(tmp_path / "a.netgrad")


def test_modules_that_cannot_be_described_are_refused_at_save(tmp_path):
    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.act = torch.relu  # a function in an attribute: not data

        def forward(self, x):
            return self.act(x)

    ng.register_layer(Holder)
    with pytest.raises(ng.NetTypeError, match="plain data"):
        ng.save(NetChain([Holder()], input=2), tmp_path / "h.netgrad")
    with pytest.raises(ng.NetTypeError, match="Layer subclass or a torch.nn.Module"):
        ng.register_layer(3)


def test_several_ports_and_integer_inputs():
    bil = ModuleLayer(torch.nn.Bilinear(2, 3, 4), inputs=["A", "B"], A=2, B=3)
    assert bil.port_shape("Output") == (4,)
    emb = NetChain([torch.nn.Embedding(10, 3)], input=5)
    assert emb.integer_ports() == {"Input"} and emb.port_shape("Output") == (5, 3)
    lstm = ModuleLayer(torch.nn.GRU(3, 4, batch_first=True), outputs=["Output", "State"],
                       input=(6, 3))
    assert lstm.port_shape("Output") == (6, 4)
    with pytest.raises(ng.NetTypeError, match="torch.nn.Module"):
        ModuleLayer(lambda x: x)


def test_gradchecks_through_a_module_layer():
    from _layer_testing import gradchecks
    torch.manual_seed(0)
    layer = ModuleLayer(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                            torch.nn.Linear(4, 2)), input=3).double()
    gradchecks(layer, torch.randn(2, 3, dtype=F64))

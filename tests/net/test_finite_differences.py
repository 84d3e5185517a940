"""Every NetPortGradient compared, in float64, with central finite differences on random nets."""

import numpy as np
import pytest
import torch

from netgrad import (AggregationLayer, CatenateLayer, CrossEntropyLossLayer, ElementwiseLayer,
                     FlattenLayer, LinearLayer, MeanSquaredLossLayer, NetChain, NetGraph,
                     NetInitialize, NetPort, NetPortGradient, All, PartLayer, ReshapeLayer,
                     SoftmaxLayer, ThreadingLayer)

SMOOTH = ["Tanh", "LogisticSigmoid", "Sin", "Cos", "Softplus"]  # bounded growth: FD stays accurate


def random_chain(rng):
    n_in = int(rng.integers(2, 5))
    layers = [LinearLayer(int(rng.integers(2, 6))), rng.choice(SMOOTH),
              LinearLayer((2, int(rng.integers(2, 4)))), ElementwiseLayer(rng.choice(SMOOTH)),
              rng.choice([FlattenLayer(), ReshapeLayer((-1,)), PartLayer(1)]),
              AggregationLayer(str(rng.choice(["Total", "Mean", "Times", "Max", "Min"])), 1)]
    return NetChain(layers, input=n_in), {"Input": rng.normal(size=(3, n_in))}


def random_graph(rng):
    n_in, k = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    g = NetGraph(
        {"a": LinearLayer(k), "b": LinearLayer(k), "ta": rng.choice(SMOOTH), "tb": "Tanh",
         "times": ThreadingLayer("Times"), "cat": CatenateLayer(),
         "mix": ThreadingLayer(lambda x, y: torch.sin(x) * y + x / (1 + y * y)),
         "out": LinearLayer(3), "soft": SoftmaxLayer(),
         "loss": CrossEntropyLossLayer("Probabilities")},
        [(NetPort("Input"), "a", "ta"), (NetPort("Input"), "b", "tb"),
         (["ta", "tb"], "times"), (["times", "ta"], "cat"), (["ta", "tb"], "mix"),
         ("cat", "out", "soft", "loss")],
        Input=n_in)
    target = rng.dirichlet(np.ones(3), size=2)
    return g, {"Input": rng.normal(size=(2, n_in)), "Target": target}


def regression_graph(rng):
    n_in = int(rng.integers(2, 4))
    g = NetGraph({"net": NetChain([LinearLayer(4), "Softplus", LinearLayer(2)]),
                  "loss": MeanSquaredLossLayer()}, [("net", "loss")], Input=n_in)
    return g, {"Input": rng.normal(size=(4, n_in)), "Target": rng.normal(size=(4, 2))}


def total(net, data):
    out = net(data, precision="float64")
    if isinstance(out, dict):
        return sum(float(np.sum(v)) for v in out.values())
    return float(np.sum(out))


def check_against_finite_differences(net, data, h=1e-6):
    net = NetInitialize(net, seed=11).double()
    grads = net(data, NetPortGradient(All), precision="float64")
    assert grads, "nothing to check"
    for spec, g in grads.items():
        if isinstance(spec.spec, str) and spec.spec in net.input_names():
            base = np.array(data[spec.spec], dtype=np.float64)

            def perturbed(i, d, base=base, port=spec.spec):
                x = base.copy()
                x[i] += d
                return total(net, {**data, port: x})
            shape = base.shape
        else:
            layer = net
            for part in spec.spec[:-1]:
                layer = layer[part]
            param = getattr(layer, spec.spec[-1])

            def perturbed(i, d, param=param):
                old = param.data[i].item()
                param.data[i] += d
                try:
                    return total(net, data)
                finally:
                    param.data[i] = old
            shape = tuple(param.shape)
        fd = np.zeros(shape)
        for i in np.ndindex(shape):
            fd[i] = (perturbed(i, h) - perturbed(i, -h)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=2e-5, atol=2e-6, err_msg=repr(spec))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("build", [random_chain, random_graph, regression_graph])
def test_random_nets_match_finite_differences(build, seed):
    net, data = build(np.random.default_rng(seed))
    check_against_finite_differences(net, data)

"""netgrad.train: convergence, the seed net, the divergence guard, options and errors."""

import math
import warnings

import numpy as np
import pytest
import torch

import netgrad
from netgrad import (AggregationLayer, LinearLayer, NetChain, NetGraph, NetPort, SoftmaxLayer,
                     ThreadingLayer)
from netgrad.train import NonFiniteStepWarning, TrainingResults, train


def all_finite(net) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in net.parameters())


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = rng.integers(0, 3, size=n)
    x = centers[labels] + 0.4 * rng.normal(size=(n, 2))
    return x.astype(np.float32), labels


# ---- the seed situation: Ramp followed by a Times aggregation ------------------------------

def product_net(weights, biases):
    return NetChain([LinearLayer(2, weights=weights, biases=biases), "Ramp",
                     AggregationLayer("Times", 1)], input=2)


def product_data():
    # An integer grid: many inputs are exactly 0, so many factors start exactly at 0.
    g = np.arange(-2, 3, dtype=np.float32)
    x = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    y = np.maximum(x[:, 0] + 1, 0) * np.maximum(x[:, 1] + 1, 0)
    return x, y


@pytest.mark.parametrize("start", ["identity", "zero-bias-row"])
def test_ramp_times_trains_without_nan_from_zero_factors(start):
    x, y = product_data()
    if start == "identity":
        w, b = [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]        # factors are exactly 0 on half the grid
    else:
        w, b = [[1.0, 0.0], [0.0, 0.0]], [0.0, 0.5]        # second factor: a constant, first 0 at x=0
    net = product_net(w, b)
    before = net(x)
    assert (np.asarray(before) == 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = train(net, (x, y), batch_size=25, max_training_rounds=150, learning_rate=0.02,
                  seed=0, results=True, progress=False)
    assert not r.skipped_steps
    assert all(math.isfinite(v) for v in r.batch_losses)
    assert all_finite(r.net)
    assert r.round_losses[-1] < 0.25 * r.round_losses[0]
    # The argument is unchanged.
    np.testing.assert_array_equal(net(x), before)


def test_net_that_computes_its_own_loss_through_a_product():
    # The loss itself is (Π Ramp(W x + b) - t)², a net output named "Loss".
    x, y = product_data()
    g = NetGraph({"lin": LinearLayer(2, weights=[[1.0, 0.0], [0.0, 1.0]], biases=[0.0, 0.0]),
                  "ramp": "Ramp", "times": AggregationLayer("Times", 1),
                  "sq": ThreadingLayer(lambda a, t: (a - t) ** 2)},
                 [("lin", "ramp", "times"), (["times", NetPort("T")], "sq"),
                  ("sq", NetPort("Loss"))], Input=2, T="Real")
    r = train(g, {"Input": x, "T": y}, batch_size=25, max_training_rounds=150,
              learning_rate=0.02, seed=0, results=True, progress=False)
    assert r.loss_description.startswith("the net's own output 'Loss'")
    assert not r.skipped_steps and all_finite(r.net)
    assert r.round_losses[-1] < 0.25 * r.round_losses[0]
    r2 = train(g, {"Input": x, "T": y}, loss="Loss", batch_size=25, max_training_rounds=2,
               learning_rate=0.02, seed=0, results=True, progress=False)
    assert r2.batch_losses == r.batch_losses[:2]


# ---- convergence ---------------------------------------------------------------------------

def test_classifier_converges_with_automatic_cross_entropy():
    x, labels = blobs()
    net = NetChain([LinearLayer(16), "Tanh", LinearLayer(3), SoftmaxLayer()], input=2)
    r = train(net, (x, labels), batch_size=32, max_training_rounds=15, learning_rate=0.02,
              seed=1, results=True, progress=False)
    assert 'CrossEntropyLossLayer("Index")' in r.loss_description
    probs = r.net(x)
    assert (probs.argmax(-1) == labels).mean() > 0.95
    assert isinstance(r, TrainingResults) and r.best_round is not None
    assert r.examples_per_second > 0 and r.final_learning_rate == 0.02


def test_regression_converges_with_pairs_and_sgd():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, size=(200, 1)).astype(np.float32)
    y = np.sin(x) + 0.5 * x
    pairs = list(zip(x, y))
    net = NetChain([LinearLayer(24), "Tanh", LinearLayer(1)], input=1)
    r = train(net, pairs, method=("SGD", {"momentum": 0.9}), learning_rate=0.05, batch_size=20,
              max_training_rounds=60, seed=3, results=True, progress=False)
    assert "MeanSquaredLossLayer" in r.loss_description
    assert r.round_losses[-1] < 0.01
    pred = r.net(x)
    assert np.mean((pred - y) ** 2) < 0.01


@pytest.mark.parametrize("method", ["ADAM", ("RMSProp", {"beta": 0.9}), ("ADAM", {"beta1": 0.8})])
def test_methods_reduce_the_loss(method):
    x, labels = blobs(120)
    net = NetChain([LinearLayer(3), SoftmaxLayer()], input=2)
    r = train(net, (x, labels), method=method, batch_size=30, max_training_rounds=10,
              learning_rate=0.05, seed=0, results=True, progress=False)
    assert r.round_losses[-1] < 0.5 * r.round_losses[0]


def test_validation_set_returns_the_best_round_and_stops_with_patience():
    x, labels = blobs(200)
    net = NetChain([LinearLayer(3), SoftmaxLayer()], input=2)
    r = train(net, (x, labels), validation_set=0.25, batch_size=50, max_training_rounds=400,
              learning_rate=0.05, seed=0, results=True, progress=False,
              training_stopping_criterion={"patience": 3, "absolute_change": 1e-3})
    assert len(r.validation_losses) == r.rounds_completed < 400
    assert "patience=3" in r.stop_reason
    assert r.best_round == int(np.argmin(r.validation_losses)) + 1


def test_learning_rate_multiplier_zero_freezes_by_path_and_position():
    x, labels = blobs(100)
    net = netgrad.NetInitialize(NetChain({"a": LinearLayer(4), "t": "Tanh", "b": LinearLayer(3),
                                          "s": SoftmaxLayer()}, input=2), seed=0)
    for rules in ({"a": 0}, {0: 0}, [(("a", "Weights"), 0), (("a", "Biases"), 0)]):
        out = train(net, (x, labels), learning_rate_multipliers=rules, max_training_rounds=2,
                    seed=0, progress=False)
        assert torch.equal(out["a"].Weights, net["a"].Weights)
        assert not torch.equal(out["b"].Weights, net["b"].Weights)
        assert out["a"].Weights.requires_grad
    # The more specific rule wins.
    out = train(net, (x, labels), learning_rate_multipliers={"a": 0, ("a", "Biases"): 1},
                max_training_rounds=2, seed=0, progress=False)
    assert torch.equal(out["a"].Weights, net["a"].Weights)
    assert not torch.equal(out["a"].Biases, net["a"].Biases)


def test_gradient_clipping_elementwise_bounds_the_sgd_step():
    net = NetChain([LinearLayer(1, weights=[[0.0]], biases=[0.0])], input=1)
    x = np.array([[100.0]], np.float32)
    y = np.array([[0.0]], np.float32) + 1000.0
    out = train(net, (x, y), method=("SGD", {"momentum": 0.0}), learning_rate=0.1,
                gradient_clipping=0.5, max_training_rounds=1, progress=False)
    # One step, every gradient element clipped to [-0.5, 0.5]: each array moves by 0.05.
    assert out[0].Weights.item() == pytest.approx(0.05)
    assert out[0].Biases.item() == pytest.approx(0.05)
    out = train(net, (x, y), method=("SGD", {"momentum": 0.0}), learning_rate=0.1,
                gradient_clipping={"norm": 1.0}, max_training_rounds=1, progress=False)
    w, b = out[0].Weights.item(), out[0].Biases.item()
    assert math.hypot(w, b) == pytest.approx(0.1, rel=1e-5)


def test_l2_regularization_shrinks_weights():
    x, labels = blobs(100)
    net = netgrad.NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer()], input=2), seed=0)
    plain = train(net, (x, labels), max_training_rounds=20, seed=0, progress=False,
                  learning_rate=0.05)
    l2 = train(net, (x, labels), max_training_rounds=20, seed=0, progress=False,
               learning_rate=0.05, l2_regularization=0.5)
    assert l2[0].Weights.norm() < plain[0].Weights.norm()


def test_uninitialized_net_is_initialized_and_reproducible():
    x, labels = blobs(60)
    net = NetChain([LinearLayer(3), SoftmaxLayer()])          # input shape from the data
    a = train(net, (x, labels), max_training_rounds=2, seed=5, progress=False)
    b = train(net, (x, labels), max_training_rounds=2, seed=5, progress=False)
    assert torch.equal(a[0].Weights, b[0].Weights)
    assert net.uninitialized_arrays()                          # the argument is unchanged


def test_float64_training_returns_the_original_precision():
    x, labels = blobs(60)
    net = netgrad.NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer()], input=2), seed=0)
    out = train(net, (x, labels), precision="float64", max_training_rounds=2, progress=False)
    assert out[0].Weights.dtype == torch.float32


def test_dataset_dataloader_and_generator_function_forms():
    from torch.utils.data import DataLoader, TensorDataset
    x, labels = blobs(96)
    net = NetChain([LinearLayer(3), SoftmaxLayer()], input=2)
    ds = TensorDataset(torch.tensor(x), torch.tensor(labels))
    for data in (ds, DataLoader(ds, batch_size=32, shuffle=True)):
        r = train(net, data, batch_size=32, max_training_rounds=8, learning_rate=0.05, seed=0,
                  results=True, progress=False)
        assert r.round_losses[-1] < r.round_losses[0] and r.steps == 24

    def rounds(info):
        for i in range(0, 96, info["batch_size"]):
            yield {"Input": x[i:i + info["batch_size"]], "Target": labels[i:i + info["batch_size"]]}
    r = train(net, rounds, batch_size=16, max_training_rounds=3, seed=0, results=True,
              progress=False)
    assert r.steps == 18

    gen = ((x[i:i + 32], labels[i:i + 32]) for i in range(0, 96, 32))
    r = train(net, gen, max_training_rounds=5, seed=0, results=True, progress=False)
    assert r.steps == 3 and r.stop_reason == "the data generator is exhausted"


def test_results_plot(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    x, labels = blobs(60)
    net = NetChain([LinearLayer(3), SoftmaxLayer()], input=2)
    r = train(net, (x, labels), validation_set=(x[:20], labels[:20]), max_training_rounds=3,
              seed=0, results=True, progress=False)
    fig = r.plot()
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["batch", "training", "validation", "returned net"]
    fig.savefig(tmp_path / "loss.png")


# ---- the divergence guard ------------------------------------------------------------------

def test_injected_nonfinite_batch_is_skipped_reported_and_training_continues():
    x, labels = blobs(96)
    bad_x = x.copy()
    bad_x[37, 0] = np.nan

    def rounds(info):
        for i in range(0, 96, 32):
            xs = bad_x if (info["round"] == 1 and i == 32) else x
            yield xs[i:i + 32], labels[i:i + 32]
    net = NetChain({"lin": LinearLayer(3), "soft": SoftmaxLayer()}, input=2)
    with pytest.warns(NonFiniteStepWarning, match=r"round 2, batch 2: step skipped") as rec:
        r = train(net, rounds, max_training_rounds=4, seed=0, results=True, progress=False,
                  learning_rate=0.05)
    msg = str(rec[0].message)
    assert "lin/Weights" in msg and "Input" in msg
    assert len(r.skipped_steps) == 1 and r.skipped_steps[0].round == 2
    assert r.steps == 11 and r.rounds_completed == 4
    assert all_finite(r.net)
    assert r.round_losses[-1] < r.round_losses[0]


def test_true_infinite_gradient_is_skipped_naming_the_array():
    # d/dx sqrt(x) at 0 is +inf: the contract keeps it infinite, the trainer skips the step.
    net = NetChain({"lin": LinearLayer(1, weights=[[0.0]], biases=[0.0]), "root": "Sqrt"},
                   input=1)
    x = np.zeros((4, 1), np.float32)
    y = np.ones((4, 1), np.float32)
    with pytest.warns(NonFiniteStepWarning, match="lin/Weights|lin/Biases"):
        r = train(net, (x, y), max_training_rounds=50, seed=0, results=True, progress=False,
                  training_stopping_criterion={"nonfinite_patience": 3})
    assert len(r.skipped_steps) == 4 and r.steps == 0
    assert "consecutive steps were not finite" in r.stop_reason
    assert torch.equal(r.net[0].Weights, net[0].Weights)      # the last good net


def test_arrays_blown_up_by_a_finite_step_are_restored():
    # A finite but enormous gradient times a huge learning rate overflows the weights to inf.
    net = NetChain([LinearLayer(1, weights=[[1.0]], biases=[0.0])], input=1)
    x = np.array([[1e18]], np.float32)
    y = np.array([[0.0]], np.float32)
    with pytest.warns(NonFiniteStepWarning):
        r = train(net, (x, y), method=("SGD", {"momentum": 0.0}), learning_rate=1e3,
                  max_training_rounds=3, results=True, progress=False,
                  training_stopping_criterion={"nonfinite_patience": 1})
    assert all_finite(r.net)


# ---- errors: where, the rule, what was received, a fix -------------------------------------

def small():
    return netgrad.NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer()], input=2), seed=0), *blobs(30)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "Adagrad"}, r"netgrad.train, method: method is one of .*got 'Adagrad'.*Fix"),
    ({"method": ("ADAM", {"beta3": 1})}, r"ADAM has no option 'beta3'.*Fix: its options"),
    ({"batch_size": 0}, r"batch_size: batch_size is a positive int; got 0"),
    ({"gradient_clipping": -1}, r"gradient_clipping.*positive finite number; got -1"),
    ({"learning_rate_multipliers": {"lin": 0}}, r"learning_rate_multipliers: no vertex 'lin'.*"
                                                r"vertices \['0', '1'\]"),
    ({"target_device": "TPU"}, r'target_device is "CPU" or "GPU"; got \'TPU\''),
    ({"checkpoint": {"every_rounds": 1}}, r'checkpoint needs "dir".*Fix'),
    ({"training_stopping_criterion": {"patience": 0}}, r"patience is an int ≥ 1; got 0. Fix"),
    ({"loss": "Output2"}, r"the loss names an output port.*got 'Output2'.*Fix"),
    ({"precision": "float16"}, r'half precision is used in the forward pass only.*got \'float16\'.*'
                               r'Fix: precision=\("Mixed", \'float16\'\)'),
])
def test_bad_options_say_where_rule_got_fix(kwargs, match):
    net, x, labels = small()
    with pytest.raises(netgrad.NetgradError, match=match):
        train(net, (x, labels), progress=False, **kwargs)


def test_gpu_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    net, x, labels = small()
    with pytest.raises(ValueError, match=r"needs a CUDA GPU; got none.*Fix: use target_device"):
        train(net, (x, labels), target_device="GPU", progress=False)


@pytest.mark.parametrize("data, match", [
    ("hello", r"data is \(inputs, targets\).*got str"),
    ((np.zeros((5, 3)), np.zeros(5)), r'port "Input": expected examples that are a vector of '
                                      r"length 2; got 5 examples of shape \(3,\).*Fix"),
    ((np.zeros((5, 2)), np.zeros(4)), r"every port has the same number of examples"),
    ({"Input": np.zeros((5, 2)), "Tagret": np.zeros(5)}, r"no port 'Tagret'"),
    ((np.zeros((5, 2)), np.full(5, 0.5)), r"expected integers \(class indices\)"),
    ([(1, 2), (3,)], r"data as a tuple is \(inputs, targets\)"),
])
def test_bad_data_says_where_rule_got_fix(data, match):
    net, _, _ = small()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(netgrad.NetgradError, match=match):
        train(net, data, progress=False)
    assert [torch.equal(a, b) for a, b in zip(before, net.parameters())] == [True] * len(before)


def test_bad_batch_mid_run_raises_keeps_the_argument_and_saves_state(tmp_path):
    net, x, labels = small()
    net = netgrad.NetInitialize(net, seed=0)
    before = [p.detach().clone() for p in net.parameters()]

    def rounds(info):
        yield x[:10], labels[:10]
        if info["round"] == 2:
            yield np.zeros((10, 7)), labels[:10]      # wrong shape, in round 3
    with pytest.raises(netgrad.ShapeError, match=r"training state up to this batch was saved"):
        train(net, rounds, max_training_rounds=5, checkpoint=str(tmp_path), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    r = train(net, rounds_ok := (lambda info: iter([(x[:10], labels[:10])])),
              resume=str(tmp_path), max_training_rounds=5, results=True, progress=False)
    assert r.start_round == 2 and r.rounds_completed == 5 and rounds_ok

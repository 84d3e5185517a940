"""Three nets of the Wolfram tutorials built end to end, trained with netgrad.train on generated
data (nothing downloaded), each beside the same model written in plain torch: a LeNet with
BatchNormalizationLayer, a Siamese net with NetSharedArray and ContrastiveLossLayer, and a
ResNet-style NetGraph with TotalLayer skips.

Each test checks that the netgrad net is the torch model (the trained arrays copied into the
torch model give the same predictions) and that both learn the task to the same accuracy
within noise (same data, same optimizer, same number of steps, different random streams)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import (BatchNormalizationLayer, ContrastiveLossLayer, ConvolutionLayer,
                     ElementwiseLayer, FlattenLayer, LinearLayer, NetChain, NetGraph, NetPort,
                     NetSharedArray, PoolingLayer, SoftmaxLayer, TotalLayer)

CLASSES = 3
LR = 3e-3  # both sides: Adam at this rate (a few rounds suffice)


def _shapes(n: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy ``size``x``size`` images (one channel) of a horizontal bar, a vertical bar or
    a hollow square at a random place, and their 0-based classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.3, size=(n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=n)
    for i, c in enumerate(y):
        r, s = rng.integers(2, size - 8, size=2)
        if c == 0:
            x[i, 0, r + 3:r + 5, s:s + 7] += 1.0
        elif c == 1:
            x[i, 0, r:r + 7, s + 3:s + 5] += 1.0
        else:
            x[i, 0, r:r + 7, s:s + 7] += 1.0
            x[i, 0, r + 2:r + 5, s + 2:s + 5] -= 1.0
    return x, y


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(probs).argmax(-1) == y).mean())


def _torch_fit(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, loss_fn, *, rounds: int,
               batch: int, seed: int) -> torch.nn.Module:
    """The plain torch loop a PyTorch user writes: Adam (lr 3e-3), shuffled minibatches."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xs, ys = torch.as_tensor(x), torch.as_tensor(y)
    model.train()
    for _ in range(rounds):
        for idx in torch.randperm(len(xs)).split(batch):
            opt.zero_grad()
            loss_fn(model, xs[idx], ys[idx]).backward()
            opt.step()
    return model.eval()


def _copy_into(torch_layers: list, ng_layers: list) -> None:
    """Copy netgrad arrays (Weights/Biases, Scaling/Biases/MovingMean/MovingVariance) into the
    matching torch modules."""
    with torch.no_grad():
        for t, n in zip(torch_layers, ng_layers):
            if isinstance(t, torch.nn.BatchNorm2d):
                t.weight.copy_(n.Scaling)
                t.bias.copy_(n.Biases)
                t.running_mean.copy_(n.MovingMean)
                t.running_var.copy_(n.MovingVariance)
            else:
                t.weight.copy_(n.Weights)
                t.bias.copy_(n.Biases)


def _cross_entropy(model, xb, yb):
    return F.cross_entropy(model(xb), yb)


# --- LeNet with BatchNormalizationLayer ------------------------------------------------------

def _lenet_ng() -> NetChain:
    return NetChain([ConvolutionLayer(6, 3), BatchNormalizationLayer(), ElementwiseLayer("ReLU"),
                     PoolingLayer(2, 2), ConvolutionLayer(12, 3), BatchNormalizationLayer(),
                     ElementwiseLayer("ReLU"), PoolingLayer(2, 2), FlattenLayer(),
                     LinearLayer(32), ElementwiseLayer("ReLU"), LinearLayer(CLASSES),
                     SoftmaxLayer()], input=(1, 16, 16))


def _lenet_torch() -> torch.nn.Sequential:
    # Wolfram's momentum 0.9 (moving = 0.9 moving + 0.1 batch) is torch's momentum 0.1
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6, 1e-3, 0.1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(6, 12, 3), nn.BatchNorm2d(12, 1e-3, 0.1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12 * 2 * 2, 32),
                         nn.ReLU(), nn.Linear(32, CLASSES))


def test_lenet_with_batch_normalization_trains_like_torch():
    x, y = _shapes(320, seed=0)
    xt, yt = _shapes(192, seed=1)
    net = ng.train(_lenet_ng(), (x, y), max_training_rounds=5, batch_size=32, seed=0,
                   learning_rate=LR, progress=False)
    ours = _accuracy(net(xt), yt)
    ref = _torch_fit(_lenet_torch(), x, y, _cross_entropy, rounds=5, batch=32, seed=0)
    with torch.no_grad():
        theirs = _accuracy(ref(torch.as_tensor(xt)).numpy(), yt)
    assert ours >= 0.85 and theirs >= 0.85, (ours, theirs)
    assert abs(ours - theirs) <= 0.1, (ours, theirs)
    # the same model: netgrad's trained arrays (moving statistics too) in the torch model
    _copy_into([m for m in ref if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d,
                                                 torch.nn.Linear))],
               [m for m in net if isinstance(m, (ConvolutionLayer, BatchNormalizationLayer,
                                                 LinearLayer))])
    with torch.no_grad():
        want = torch.softmax(ref(torch.as_tensor(xt)), -1).numpy()
    np.testing.assert_allclose(net(xt), want, rtol=1e-4, atol=1e-5)


# --- Siamese net with NetSharedArray and ContrastiveLossLayer -------------------------------

def _pairs(n: int, seed: int, dim: int = 8) -> dict[str, np.ndarray]:
    """Pairs of points from four Gaussian clusters; Target 1 (push apart) when the clusters
    differ, 0 (pull together) when they are the same, as ContrastiveLossLayer reads it."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(123).normal(0.0, 1.0, size=(4, dim))
    ca, cb = rng.integers(0, 4, size=n), rng.integers(0, 4, size=n)
    same = rng.random(n) < 0.5
    cb = np.where(same, ca, cb)
    a = centers[ca] + rng.normal(0.0, 0.35, size=(n, dim))
    b = centers[cb] + rng.normal(0.0, 0.35, size=(n, dim))
    return {"a": a.astype(np.float32), "b": b.astype(np.float32),
            "Target": (ca != cb).astype(np.float32)}


def _siamese_ng(dim: int = 8) -> NetGraph:
    w1, b1, w2, b2 = (NetSharedArray(s) for s in ("w1", "b1", "w2", "b2"))

    def tower():
        return NetChain([LinearLayer(16, weights=w1, biases=b1), ElementwiseLayer("Tanh"),
                         LinearLayer(4, weights=w2, biases=b2)])

    dist = ng.FunctionLayer(lambda u, v: torch.linalg.vector_norm(u - v, dim=-1), u=4, v=4)
    return NetGraph({"left": tower(), "right": tower(), "d": dist,
                     "loss": ContrastiveLossLayer(1.0)},
                    [(NetPort("a"), "left"), (NetPort("b"), "right"),
                     ("left", NetPort("d", "u")), ("right", NetPort("d", "v")),
                     ("d", NetPort("loss", "Input"))], a=dim, b=dim)


class _TorchSiamese(torch.nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.tower = torch.nn.Sequential(torch.nn.Linear(dim, 16), torch.nn.Tanh(),
                                         torch.nn.Linear(16, 4))

    def forward(self, a, b):
        return torch.linalg.vector_norm(self.tower(a) - self.tower(b), dim=-1)


def _pair_accuracy(d: np.ndarray, target: np.ndarray) -> float:
    return float(((np.asarray(d) > 0.5) == (target > 0.5)).mean())


def test_siamese_net_with_shared_arrays_and_contrastive_loss_trains_like_torch():
    train_pairs, test_pairs = _pairs(640, seed=0), _pairs(400, seed=1)
    net = ng.train(_siamese_ng(), train_pairs, max_training_rounds=6, batch_size=32, seed=0,
                   learning_rate=LR, progress=False)
    left, right = net["left"], net["right"]
    assert left[0].Weights is right[0].Weights and left[2].Biases is right[2].Biases
    tests = {"a": test_pairs["a"], "b": test_pairs["b"]}
    ours = _pair_accuracy(_siamese_distance(net, tests), test_pairs["Target"])

    def contrastive(model, xb, tb):
        d = model(xb[:, 0], xb[:, 1])
        return ((1 - tb) * d ** 2 + tb * torch.relu(1.0 - d) ** 2).mean()

    stacked = np.stack([train_pairs["a"], train_pairs["b"]], 1)
    ref = _torch_fit(_TorchSiamese(), stacked, train_pairs["Target"], contrastive, rounds=6,
                     batch=32, seed=0)
    with torch.no_grad():
        d_ref = ref(torch.as_tensor(tests["a"]), torch.as_tensor(tests["b"])).numpy()
    theirs = _pair_accuracy(d_ref, test_pairs["Target"])
    assert ours >= 0.9 and theirs >= 0.9, (ours, theirs)
    assert abs(ours - theirs) <= 0.06, (ours, theirs)
    _copy_into([ref.tower[0], ref.tower[2]], [left[0], left[2]])
    with torch.no_grad():
        want = ref(torch.as_tensor(tests["a"]), torch.as_tensor(tests["b"])).numpy()
    np.testing.assert_allclose(_siamese_distance(net, tests), want, rtol=1e-4, atol=1e-5)


def _siamese_distance(net: NetGraph, pairs: dict[str, np.ndarray]) -> np.ndarray:
    """The distance the trained net computes: its two towers (one set of arrays) on a pair."""
    left, right = net["left"](pairs["a"]), net["right"](pairs["b"])
    return np.linalg.norm(np.asarray(left) - np.asarray(right), axis=-1)


# --- ResNet-style NetGraph with TotalLayer skips --------------------------------------------

def _block(channels: int) -> NetChain:
    return NetChain([ConvolutionLayer(channels, 3, padding=1), BatchNormalizationLayer(),
                     ElementwiseLayer("ReLU"), ConvolutionLayer(channels, 3, padding=1),
                     BatchNormalizationLayer()])


def _resnet_ng(c: int = 8) -> NetGraph:
    return NetGraph({"stem": NetChain([ConvolutionLayer(c, 3, padding=1),
                                       ElementwiseLayer("ReLU")]),
                     "block1": _block(c), "add1": TotalLayer(), "relu1": ElementwiseLayer("ReLU"),
                     "block2": _block(c), "add2": TotalLayer(), "relu2": ElementwiseLayer("ReLU"),
                     "head": NetChain([PoolingLayer(4, 4, "Mean"), FlattenLayer(),
                                       LinearLayer(CLASSES), SoftmaxLayer()])},
                    [(NetPort("Input"), "stem"), ("stem", "block1"), (["stem", "block1"], "add1"),
                     ("add1", "relu1", "block2"), (["relu1", "block2"], "add2"),
                     ("add2", "relu2", "head")], Input=(1, 16, 16))


class _TorchResNet(torch.nn.Module):
    def __init__(self, c: int = 8) -> None:
        super().__init__()
        nn = torch.nn

        def block():
            return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c, 1e-3, 0.1),
                                 nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                                 nn.BatchNorm2d(c, 1e-3, 0.1))

        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.block1, self.block2 = block(), block()
        self.head = nn.Linear(c * 4 * 4, CLASSES)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.block1(h))
        h = torch.relu(h + self.block2(h))
        return self.head(F.avg_pool2d(h, 4).flatten(1))


def test_resnet_style_graph_with_total_layer_skips_trains_like_torch():
    x, y = _shapes(320, seed=2)
    xt, yt = _shapes(192, seed=3)
    net = ng.train(_resnet_ng(), (x, y), max_training_rounds=5, batch_size=32, seed=0,
                   learning_rate=LR, progress=False)
    ours = _accuracy(net(xt), yt)
    ref = _torch_fit(_TorchResNet(), x, y, _cross_entropy, rounds=5, batch=32, seed=0)
    with torch.no_grad():
        theirs = _accuracy(ref(torch.as_tensor(xt)).numpy(), yt)
    assert ours >= 0.85 and theirs >= 0.85, (ours, theirs)
    assert abs(ours - theirs) <= 0.1, (ours, theirs)
    mods = [ref.stem, *[m for blk in (ref.block1, ref.block2) for m in blk
                        if not isinstance(m, torch.nn.ReLU)], ref.head]
    layers = [net["stem"][0], *[m for v in ("block1", "block2") for m in net[v]
                                if not isinstance(m, ElementwiseLayer)], net["head"][2]]
    _copy_into(mods, layers)
    with torch.no_grad():
        want = torch.softmax(ref(torch.as_tensor(xt)), -1).numpy()
    np.testing.assert_allclose(net(xt), want, rtol=1e-4, atol=1e-5)

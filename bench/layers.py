"""The layer library, forward + backward, against the torch counterpart of each layer, and the
LeNet + BatchNormalization training step against the same model in plain torch.

    python bench/layers.py [--threads 1 2] [--rounds 9] [--steps 40] [--only NAME ...]
                           [--no-train]

Each row times one netgrad layer (its ``forward`` on a batch of float32 examples, then the
gradients of its input and learned arrays for ``output.sum()``) against the torch call a
PyTorch user writes for the same thing, on the same data in the same run (interleaved rounds,
order shuffled each round; the median of the per-round ratios and the ratio of the minima), at
each thread count. Target ≤ 1.2× per layer.

The training row is a LeNet (1×28×28, conv 3×3×16, BatchNormalization, ReLU, 2×2 max pool,
conv 3×3×32, BatchNormalization, ReLU, 2×2 max pool, linear 10, softmax; batch 128, Adam):
``netgrad.train``'s per-step time against the hand-written torch loop (``F.cross_entropy``,
``nn.BatchNorm2d``), measured as in ``bench/train_step.py``. Target ≤ 1.15×.
"""

from __future__ import annotations

import argparse
import random
import statistics

import torch
import torch.nn.functional as F

import train_step as ts
from _common import interleaved_ratio

from netgrad import (BatchNormalizationLayer, ConvolutionLayer, DotLayer, EmbeddingLayer,
                     LinearLayer, LocalResponseNormalizationLayer, NetChain, NetInitialize,
                     NormalizationLayer, PaddingLayer, PoolingLayer, ResizeLayer, SoftmaxLayer,
                     TotalLayer, TransposeLayer)

LAYER_TARGET = 1.2
TRAIN_TARGET = 1.15


def _pair(layer, theirs_fn, *inputs, params=()):
    """(ours, theirs) closures: forward of ``layer`` / ``theirs_fn`` on fresh leaves of the
    float ``inputs``, then the gradients of those leaves and of the arrays for ``out.sum()``."""
    ours_params = [p for p in layer.parameters() if p.requires_grad]

    def run(f, ps):
        def go():
            leaves = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
            out = f(*leaves)
            wrt = [x for x in leaves if x.requires_grad] + list(ps)
            torch.autograd.grad(out.sum(), wrt)
        return go

    return run(layer.forward, ours_params), run(theirs_fn, params)


def _cases(b: int):
    g = torch.Generator().manual_seed(0)
    img = torch.randn(b, 32, 28, 28, generator=g)

    def batch_norm():
        layer = NetInitialize(BatchNormalizationLayer(input=(32, 28, 28)), seed=0).train()
        ref = torch.nn.BatchNorm2d(32, 1e-3, 0.1).train()
        return _pair(layer, ref, img, params=list(ref.parameters()))

    def layer_norm():
        x = torch.randn(b, 100, 256, generator=g)
        layer = NetInitialize(NormalizationLayer(2, input=(100, 256)), seed=0)
        ref = torch.nn.LayerNorm(256, 1e-3)
        return _pair(layer, ref, x, params=list(ref.parameters()))

    def group_norm():
        layer = NetInitialize(NormalizationLayer("1;;", 1, group_number=[8, 1, 1],
                                                 input=(32, 28, 28)), seed=0)
        ref = torch.nn.GroupNorm(8, 32, 1e-3)
        return _pair(layer, ref, img, params=list(ref.parameters()))

    def instance_norm():
        layer = NetInitialize(NormalizationLayer(input=(32, 28, 28)), seed=0)
        ref = torch.nn.GroupNorm(32, 32, 1e-3)
        return _pair(layer, ref, img, params=list(ref.parameters()))

    def lrn():
        layer = LocalResponseNormalizationLayer(input=(32, 28, 28))
        ref = torch.nn.LocalResponseNorm(5, 1.0, 0.5, 1.0)
        return _pair(layer, ref, img)

    def embedding():
        idx = torch.randint(0, 10000, (b, 100), generator=g)
        layer = NetInitialize(EmbeddingLayer(128, 10000, input=100), seed=0)
        ref = torch.nn.Embedding(10000, 128)

        def ours():
            torch.autograd.grad(layer.forward(idx).sum(), layer.Weights)

        def theirs():
            torch.autograd.grad(ref(idx).sum(), ref.weight)
        return ours, theirs

    def padding(mode, torch_mode):
        def make():
            layer = PaddingLayer([(0, 0), (2, 2), (2, 2)], mode, input=(32, 28, 28))
            return _pair(layer, lambda x: F.pad(x, (2, 2, 2, 2), mode=torch_mode), img)
        return make

    def resize(resampling, torch_mode):
        def make():
            layer = ResizeLayer((56, 56), resampling, input=(32, 28, 28))
            kw = {"align_corners": False} if torch_mode == "bilinear" else {}
            return _pair(layer, lambda x: F.interpolate(x, (56, 56), mode=torch_mode, **kw), img)
        return make

    def transpose():
        x = torch.randn(b, 100, 256, generator=g)
        return _pair(TransposeLayer(input=(100, 256)), lambda t: t.transpose(1, 2), x)

    def dot():
        x = torch.randn(b, 100, 64, generator=g)
        y = torch.randn(b, 64, 100, generator=g)
        return _pair(DotLayer(input1=(100, 64), input2=(64, 100)), torch.bmm, x, y)

    def total():
        x, y, z = (torch.randn(b, 32, 28, 28, generator=g) for _ in range(3))
        return _pair(TotalLayer(3), lambda p, q, r: p + q + r, x, y, z)

    return {"BatchNormalization/BatchNorm2d": batch_norm,
            "Normalization/LayerNorm": layer_norm,
            "Normalization/GroupNorm": group_norm,
            "Normalization/instance": instance_norm,
            "LocalResponseNorm": lrn,
            "Embedding": embedding,
            "Padding Fixed/F.pad": padding("Fixed", "constant"),
            "Padding Reflected": padding("Reflected", "reflect"),
            "Padding Periodic": padding("Periodic", "circular"),
            "Resize Linear/interp": resize("Linear", "bilinear"),
            "Resize Nearest": resize("Nearest", "nearest"),
            "Transpose": transpose,
            "Dot/bmm": dot,
            "Total (3)/a+b+c": total}


def lenet():
    net = NetChain([ConvolutionLayer(16, 3), BatchNormalizationLayer(), "Ramp",
                    PoolingLayer(2, 2), ConvolutionLayer(32, 3), BatchNormalizationLayer(),
                    "Ramp", PoolingLayer(2, 2), LinearLayer(10), SoftmaxLayer()],
                   input=(1, 28, 28))
    return NetInitialize(net, seed=0)


def lenet_torch(net) -> torch.nn.Module:
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.BatchNorm2d(16, 1e-3, 0.1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32, 1e-3, 0.1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 10))
    with torch.no_grad():
        c1, b1, c2, b2, lin = net[0], net[1], net[4], net[5], net[8]
        for conv, ref in ((c1, model[0]), (c2, model[4]), (lin, model[9])):
            ref.weight.copy_(conv.Weights.reshape(ref.weight.shape))
            ref.bias.copy_(conv.Biases)
        for bn, ref in ((b1, model[1]), (b2, model[5])):
            ref.weight.copy_(bn.Scaling)
            ref.bias.copy_(bn.Biases)
    return model


def train_row(threads: int, rounds: int, steps: int) -> tuple[float, float, float]:
    net = lenet()
    x, y, batch = ts.data("cnn", steps)
    runs = {"torch": lambda: ts.run_torch(lenet_torch(net), x, y, batch),
            "train": lambda: ts.run_train(net, x, y, batch)}
    rng = random.Random(threads)
    got: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        order = list(runs)
        rng.shuffle(order)
        for k in order:
            got[k].append(runs[k]())
    ratio = statistics.median(a / b for a, b in zip(got["train"], got["torch"]))
    return ratio, statistics.median(got["torch"]), statistics.median(got["train"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40, help="steps per training run")
    ap.add_argument("--only", nargs="+", default=None, help="row names (prefixes)")
    ap.add_argument("--no-train", action="store_true", help="skip the LeNet training row")
    args = ap.parse_args()
    cases = _cases(args.batch)
    if args.only:
        cases = {n: c for n, c in cases.items() if any(n.startswith(o) for o in args.only)}
    missed = 0
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"forward + backward, float32, batch {args.batch}, torch {torch.__version__}, "
              f"{threads} thread(s); median of {args.rounds} interleaved rounds")
        print(f"{'layer / torch':32s} {'torch ms':>9s} {'netgrad ms':>10s} {'ratio':>6s} "
              f"{'(min)':>6s}  target")
        for name, make in cases.items():
            ours, theirs = make()
            med, mins, t_ours, t_theirs = interleaved_ratio(ours, theirs, rounds=args.rounds,
                                                            number=2, window=0.1)
            ok = med <= LAYER_TARGET
            missed += not ok
            print(f"{name:32s} {t_theirs * 1e3:9.3f} {t_ours * 1e3:10.3f} {med:6.2f} "
                  f"{mins:6.2f}  {'ok' if ok else 'MISSED'} (≤ {LAYER_TARGET})")
        if not args.no_train:
            ratio, t_torch, t_train = train_row(threads, max(3, args.rounds // 2), args.steps)
            ok = ratio <= TRAIN_TARGET
            missed += not ok
            print(f"{'LeNet+BN step: train/torch':32s} {t_torch * 1e3:9.3f} {t_train * 1e3:10.3f} "
                  f"{ratio:6.2f} {'':6s}  {'ok' if ok else 'MISSED'} (≤ {TRAIN_TARGET})")
        print()
    print(f"targets missed: {missed}")


if __name__ == "__main__":
    main()

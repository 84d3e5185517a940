"""Training-step speed: ``netgrad.train`` against the same model in a hand-written PyTorch loop.

    python bench/train_step.py [--steps 40] [--repeat 3] [--threads 1] [--model auto|cnn|mlp]

MNIST-shaped random data (1×28×28 inputs, 10 classes, batch 128). The model is a small CNN
(conv 3×3×16, ReLU, 2×2 max pool, conv 3×3×32, ReLU, 2×2 max pool, linear 10, softmax) when
netgrad's ConvolutionLayer and PoolingLayer exist, else an MLP (784-256-ReLU-10-softmax); the
script says which it ran. Both sides start from the same weights, use Adam (lr 1e-3), shuffle
every round and take the same number of steps; each timed run includes everything a user's call
pays for (netgrad: copying the net, converting and shuffling the data, the divergence guard's
check and the loss history; PyTorch: building the optimizer, shuffling, ``loss.item()`` per
step). Best of ``--repeat`` alternating runs; steps per second for each and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

import netgrad
from netgrad import LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import train


def netgrad_model(kind: str):
    if kind in ("auto", "cnn"):
        try:
            from netgrad.layers import ConvolutionLayer, PoolingLayer  # type: ignore[attr-defined]
            net = NetChain([ConvolutionLayer(16, 3), "Ramp", PoolingLayer(2, 2),
                            ConvolutionLayer(32, 3), "Ramp", PoolingLayer(2, 2),
                            LinearLayer(10), SoftmaxLayer()], input=(1, 28, 28))
            return "cnn", netgrad.NetInitialize(net, seed=0)
        except (ImportError, TypeError, ValueError) as e:
            if kind == "cnn":
                raise SystemExit(f"the CNN needs netgrad's ConvolutionLayer/PoolingLayer: {e}")
    net = NetChain([LinearLayer(256), "Ramp", LinearLayer(10), SoftmaxLayer()], input=(1, 28, 28))
    return "mlp", netgrad.NetInitialize(net, seed=0)


class TorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 16, 3)
        self.c2 = torch.nn.Conv2d(16, 32, 3)
        self.fc = torch.nn.Linear(32 * 5 * 5, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


class TorchMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(784, 256)
        self.l2 = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.l2(F.relu(self.l1(x.flatten(1))))


def torch_model(kind: str, net) -> torch.nn.Module:
    """The equivalent torch module, with netgrad's initial weights copied in."""
    model = TorchCNN() if kind == "cnn" else TorchMLP()
    arrays = [getattr(layer, name) for _, layer, name in net.named_arrays()]
    params = list(model.parameters())
    if len(arrays) != len(params):
        raise SystemExit("the torch model does not mirror the netgrad net")
    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(a.reshape(p.shape))
    return model


def run_torch(model_kind, net, x, y, steps, batch):
    model = torch_model(model_kind, net)  # (copying the weights is outside the timed part)
    t = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    n, done, losses = x.shape[0], 0, []
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            done += 1
            if done == steps:
                break
    return steps / (time.perf_counter() - t), losses


def run_netgrad(net, x, y, steps, batch):
    t = time.perf_counter()
    r = train(net, (x, y), batch_size=batch, max_training_rounds=steps * batch // x.shape[0],
              method="ADAM", learning_rate=1e-3, seed=0, progress=False, results=True)
    elapsed = time.perf_counter() - t
    if r.steps != steps:
        raise SystemExit(f"netgrad took {r.steps} steps, expected {steps}")
    return steps / elapsed, r.batch_losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="auto", choices=["auto", "cnn", "mlp"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch = 128
    kind, net = netgrad_model(args.model)
    n = batch * args.steps // 2                      # two rounds of steps/2 batches
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    best_t = best_n = 0.0
    for _ in range(args.repeat):                     # alternate, so load changes hit both
        st, lt = run_torch(kind, net, x, y, args.steps, batch)
        sn, ln = run_netgrad(net, x, y, args.steps, batch)
        best_t, best_n = max(best_t, st), max(best_n, sn)
    print(f"model: {kind} ({'ConvolutionLayer/PoolingLayer' if kind == 'cnn' else 'MLP: netgrad has no ConvolutionLayer/PoolingLayer yet'}),"
          f" batch {batch}, {args.steps} steps, {args.threads} thread(s), torch {torch.__version__}")
    print(f"plain PyTorch loop: {best_t:8.2f} steps/s")
    print(f"netgrad.train:      {best_n:8.2f} steps/s")
    print(f"time ratio netgrad/PyTorch: {best_t / best_n:.3f}x (target <= 1.10x)")
    print(f"first/last loss, PyTorch {lt[0]:.4f}/{lt[-1]:.4f}; netgrad {ln[0]:.4f}/{ln[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training runs for the subprocess tests (checkpoint/kill/resume, torchrun data parallelism).

    python _worker.py checkpoint <dir> <every_seconds or -> <rounds>
    torchrun --nproc_per_node 2 _worker.py ddp <out.pt>
"""

import sys

import numpy as np
import torch

import netgrad
from netgrad import LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import train

torch.set_num_threads(1)


def problem(n=512, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = (centers[labels] + 0.5 * rng.normal(size=(n, 2))).astype(np.float32)
    net = netgrad.NetInitialize(NetChain([LinearLayer(32), "Tanh", LinearLayer(3), SoftmaxLayer()],
                                         input=2), seed=0)
    return net, x, labels


CHECKPOINT_OPTIONS = dict(batch_size=4, learning_rate=0.01, seed=7, progress=False)
DDP_OPTIONS = dict(batch_size=32, max_training_rounds=3, learning_rate=0.05, seed=3,
                   progress=False, method=("SGD", {"momentum": 0.9}), gradient_clipping={"norm": 5.0})


if __name__ == "__main__":
    mode = sys.argv[1]
    net, x, labels = problem()
    if mode == "checkpoint":
        folder, every_seconds, rounds = sys.argv[2], sys.argv[3], int(sys.argv[4])
        spec = {"dir": folder, "every_rounds": 1, "keep": 3}
        if every_seconds != "-":
            spec = {"dir": folder, "every_seconds": float(every_seconds), "keep": 3}
        train(net, (x, labels), max_training_rounds=rounds, checkpoint=spec,
                      **CHECKPOINT_OPTIONS)
    elif mode == "ddp":
        seen = [0]
        net[0].register_forward_pre_hook(lambda m, args: seen.__setitem__(0, seen[0] + len(args[0])))
        out = train(net, (x, labels), **DDP_OPTIONS)
        rank = int(__import__("os").environ["RANK"])
        with open(f"{sys.argv[2]}.rank{rank}", "w") as f:
            f.write(str(seen[0]))
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in out.state_dict().items()}, sys.argv[2])

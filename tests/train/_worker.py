"""Training runs for the subprocess tests (checkpoint/kill/resume, torchrun data parallelism).

    python _worker.py checkpoint <dir> <every_seconds or -> <rounds>
    torchrun --nproc_per_node 2 _worker.py ddp <out.pt>
    torchrun --nnodes 2 --node_rank i --nproc_per_node 1 _worker.py ddp-nan <out.pt>
"""

import os
import sys
import warnings

import numpy as np
import torch

import netgrad
from netgrad import LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import train

torch.set_num_threads(1)


def problem(n=512, seed=0, nan_at=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = (centers[labels] + 0.5 * rng.normal(size=(n, 2))).astype(np.float32)
    if nan_at is not None:
        x[nan_at, 0] = np.nan
    net = netgrad.NetInitialize(NetChain([LinearLayer(32), "Tanh", LinearLayer(3), SoftmaxLayer()],
                                         input=2), seed=0)
    return net, x, labels


CHECKPOINT_OPTIONS = dict(batch_size=4, learning_rate=0.01, seed=7, progress=False)
DDP_OPTIONS = dict(batch_size=32, max_training_rounds=3, learning_rate=0.05, seed=3,
                   progress=False, method=("SGD", {"momentum": 0.9}), gradient_clipping={"norm": 5.0})
NAN_AT = 100          # an example with a NaN input: one global batch per round is not finite


def threads() -> list[str]:
    """This process's native threads by name (Linux), e.g. gloo's pt_gloo_runloop."""
    names = []
    for t in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:
        try:
            with open(f"/proc/self/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return sorted(names)


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
    elif mode in ("ddp", "ddp-nan"):
        if mode == "ddp-nan":
            net, x, labels = problem(nan_at=NAN_AT)
        seen = [0]
        net[0].register_forward_pre_hook(lambda m, args: seen.__setitem__(0, seen[0] + len(args[0])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore" if mode == "ddp-nan" else "error")
            r = train(net, (x, labels), results=True, **DDP_OPTIONS)
        rank = int(os.environ["RANK"])
        torch.save({"state": {k: v.detach().clone() for k, v in r.net.state_dict().items()},
                    "seen": seen[0], "threads": threads(), "steps": r.steps,
                    "skipped": [(s.round, s.batch) for s in r.skipped_steps],
                    "losses": r.batch_losses}, f"{sys.argv[2]}.rank{rank}")

"""Data parallelism: the same call under torchrun on 2 CPU processes (gloo) trains the same net
as one process on the same global batches."""

import os
import socket
import subprocess
import sys

import torch

from netgrad.train import train

sys.path.insert(0, os.path.dirname(__file__))
from _worker import DDP_OPTIONS, problem  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="error")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), WORKER, "ddp", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-6000:]
    two = torch.load(out)
    # Each process took its half of every global batch.
    seen = [int((tmp_path / f"ddp.pt.rank{r}").read_text()) for r in (0, 1)]
    assert seen == [512 * 3 // 2] * 2
    net, x, labels = problem()
    one = train(net, (x, labels), **DDP_OPTIONS).state_dict()
    assert set(two) == set(one)
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5, msg=k)
    # And training did something.
    assert not torch.equal(one["vertices.0.Weights"], net.state_dict()["vertices.0.Weights"])

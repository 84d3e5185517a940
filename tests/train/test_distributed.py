"""Data parallelism: the same call under torchrun on 2 CPU processes (gloo), on one node or on
two, trains the same net as one process on the same global batches; every process takes the
same decision for a non-finite step; and no gloo thread outlives netgrad.train."""

import os
import socket
import subprocess
import sys
import warnings

import torch

from netgrad.train import train

sys.path.insert(0, os.path.dirname(__file__))
from _worker import DDP_OPTIONS, NAN_AT, problem  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, mode, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="error")
    return [sys.executable, "-m", "torch.distributed.run", *args, "--master_addr", "127.0.0.1",
            WORKER, mode, str(out)], env


def results(out):
    return [torch.load(f"{out}.rank{r}") for r in (0, 1)]


def reference(nan_at=None):
    net, x, labels = problem(nan_at=nan_at)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return net, train(net, (x, labels), results=True, **DDP_OPTIONS)


def assert_matches(two, one, net):
    for got in two:
        assert set(got["state"]) == set(one.net.state_dict())
        for k, v in one.net.state_dict().items():
            torch.testing.assert_close(got["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)
        # netgrad.train ended the process group: none of gloo's threads is left running
        # (a group kept alive past destroy_process_group aborted workers at exit)
        assert not [t for t in got["threads"] if "gloo" in t], got["threads"]
    assert not torch.equal(one.net.state_dict()["vertices.0.Weights"],
                           net.state_dict()["vertices.0.Weights"])


def test_two_processes_match_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    cmd, env = torchrun(["--nnodes", "1", "--nproc_per_node", "2", "--master_port",
                         str(free_port())], "ddp", out)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    two = results(out)
    assert [t["seen"] for t in two] == [512 * 3 // 2] * 2     # each took half of every batch
    net, one = reference()
    assert_matches(two, one, net)


def test_two_nodes_agree_on_every_skipped_step_and_match_one_process(tmp_path):
    """torchrun --nnodes 2 --nproc_per_node 1, both nodes on localhost; an example with a NaN
    input lies in one process's shard of one batch per round (the other process's shard is
    finite): both processes skip exactly that step."""
    out = tmp_path / "nodes.pt"
    port = str(free_port())
    procs = []
    for node in (0, 1):
        cmd, env = torchrun(["--nnodes", "2", "--node_rank", str(node), "--nproc_per_node", "1",
                             "--master_port", port], "ddp-nan", out)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    errs = []
    for p in procs:
        try:
            errs.append(p.communicate(timeout=300)[1])
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(e[-3000:] for e in errs)
    two = results(out)
    net, one = reference(nan_at=NAN_AT)
    assert len(one.skipped_steps) == 3                       # one step per round
    assert two[0]["skipped"] == two[1]["skipped"] == [(s.round, s.batch) for s in one.skipped_steps]
    assert two[0]["steps"] == two[1]["steps"] == one.steps
    assert two[0]["losses"] == two[1]["losses"]
    assert_matches(two, one, net)


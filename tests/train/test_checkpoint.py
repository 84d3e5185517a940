"""Checkpoints: atomic writes, SIGKILL during training, resume continuing from the saved round."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import netgrad
from netgrad.train import train

sys.path.insert(0, os.path.dirname(__file__))
from _worker import CHECKPOINT_OPTIONS, problem  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "_worker.py")
NAME = re.compile(r"checkpoint-r(\d+)-b(\d+)-s(\d+)\.netgrad$")


def checkpoints(folder):
    found = []
    for n in os.listdir(folder) if os.path.isdir(folder) else []:
        m = NAME.match(n)
        if m:
            found.append((int(m[3]), int(m[1]), int(m[2]), n))
    return sorted(found)


def run_and_kill(folder, every_seconds, rounds, until):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="error")
    proc = subprocess.Popen([sys.executable, WORKER, "checkpoint", str(folder), every_seconds,
                             str(rounds)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180   # a safety net only: under heavy load the first call is slow
    try:
        while time.monotonic() < deadline:
            if until(checkpoints(folder)) or proc.poll() is not None:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        err = proc.stderr.read().decode()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"worker ended by itself: {err}"


def test_kill_then_resume_continues_from_the_saved_round_and_matches_an_unbroken_run(tmp_path):
    rounds = 6
    run_and_kill(tmp_path, "-", 200, lambda cps: any(r >= 2 for _, r, _, _ in cps))
    step, saved_round, batch, _ = checkpoints(tmp_path)[-1]
    assert saved_round >= 2 and batch == 0
    net, x, labels = problem()
    resumed = train(net, (x, labels), max_training_rounds=saved_round + 2, resume=str(tmp_path),
                    results=True, **CHECKPOINT_OPTIONS)
    assert resumed.start_round == saved_round
    assert resumed.rounds_completed == saved_round + 2
    assert len(resumed.round_losses) == saved_round + 2
    assert resumed.steps == step + 2 * 128
    unbroken = train(net, (x, labels), max_training_rounds=saved_round + 2, results=True,
                     **CHECKPOINT_OPTIONS)
    for (k, a), b in zip(resumed.net.state_dict().items(), unbroken.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"{k}: {m} {resumed.round_losses} {unbroken.round_losses} {resumed.start_round}")
    assert rounds  # noqa: the unbroken run is the reference


def test_kill_during_frequent_writes_never_leaves_a_corrupt_checkpoint(tmp_path):
    # A checkpoint after every step (every_seconds=0): the kill lands during or between writes.
    for attempt in range(2):
        folder = tmp_path / f"run{attempt}"
        run_and_kill(folder, "0", 200, lambda cps, a=attempt: len(cps) >= 1 and cps[-1][0] >= 5 + 7 * a)
        net, x, labels = problem()
        step, saved_round, batch, _ = checkpoints(folder)[-1]
        r = train(net, (x, labels), max_training_rounds=saved_round + 1, resume=str(folder),
                  results=True, **CHECKPOINT_OPTIONS)
        assert r.start_round == saved_round
        # Mid-round checkpoint: the round continues at the saved batch.
        assert r.steps == step + (128 - batch) + 0
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_resume_errors(tmp_path):
    net, x, labels = problem()
    with pytest.raises(netgrad.NetValueError, match=r"resume.*which does not exist.*Fix"):
        train(net, (x, labels), resume=str(tmp_path / "nope"), progress=False)
    train(net, (x, labels), max_training_rounds=1, checkpoint=str(tmp_path), progress=False)
    other = netgrad.NetInitialize(netgrad.NetChain([netgrad.LinearLayer(5), netgrad.LinearLayer(3),
                                                    netgrad.SoftmaxLayer()], input=2), seed=0)
    with pytest.raises(netgrad.LoadError, match=r"the same net.*Fix"):
        train(other, (x, labels), resume=str(tmp_path), progress=False)
    # A truncated newest file (a failing disk) falls back to the previous checkpoint.
    train(net, (x, labels), max_training_rounds=2, resume=str(tmp_path), checkpoint=str(tmp_path),
          progress=False)
    newest = checkpoints(tmp_path)[-1][3]
    with open(tmp_path / newest, "r+b") as f:
        f.truncate(100)
    r = train(net, (x, labels), max_training_rounds=3, resume=str(tmp_path), results=True,
              progress=False)
    assert r.start_round == 1

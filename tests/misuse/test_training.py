"""Misuses of netgrad.train: options, data, user functions and resume (named test_training.py:
a test_train.py here would clash with tests/train/test_train.py in pytest's rootdir imports).

Every row must raise a netgrad error naming where (``netgrad.train`` and the option), the rule,
what was received and a fix. Bad input never changes the net handed in, a failure in the middle
of a run leaves the learned state in its checkpoint (resumable), and a refused resume leaves the
checkpoint folder as it was. (tests/train/test_misuse.py checks the texts of the train errors;
this table keeps them in the census.)
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import Plugin, train

from _misuse import Misuse, check, params

V, T, K, S, L = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError, ng.LoadError

_rng = np.random.default_rng(0)
X = _rng.normal(size=(30, 2)).astype(np.float32)
Y = _rng.integers(0, 3, size=30)
NET = ng.NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer()], input=2), seed=0)
REG = ng.NetInitialize(NetChain([LinearLayer(1)], input=2), seed=0)
_TMP = pathlib.Path(tempfile.mkdtemp(prefix="netgrad-misuse-train-"))
_FILE = _TMP / "afile"
_FILE.write_text("not a folder")
_CKPT = _TMP / "ckpt"          # written by the fixture below, before the resume rows run


def _t(net=None, data=None, **kw):
    kw.setdefault("max_batches", 2)
    kw.setdefault("progress", False)
    return train(NET if net is None else net, (X, Y) if data is None else data, **kw)


def _raise(*_):
    raise ZeroDivisionError("division by zero")


W = "netgrad.train"
ROWS = [
    # the net and unknown options
    Misuse("train a torch module", lambda: train(torch.nn.Linear(2, 3), (X, Y)), T, W),
    Misuse("train a number", lambda: train(3, (X, Y)), T, W),
    Misuse("train a layer class", lambda: train(LinearLayer, (X, Y)), T, W),
    Misuse("train with epochs=", lambda: _t(epochs=5), T, W),
    Misuse("train with lr=", lambda: _t(lr=0.1), T, W),
    Misuse("train with a Wolfram option name", lambda: _t(MaxTrainingRounds=3), T, W),
    Misuse("train with max_grad_norm=", lambda: _t(max_grad_norm=1.0), T, W),
    # numbers and goals
    Misuse("train for 2.0 rounds", lambda: _t(max_training_rounds=2.0), V, "max_training_rounds"),
    Misuse("train for 0 rounds", lambda: _t(max_training_rounds=0), V, "max_training_rounds"),
    Misuse("train for '3' rounds", lambda: _t(max_training_rounds="3"), V, "max_training_rounds"),
    Misuse("train with a negative batch size", lambda: _t(batch_size=-3), V, "batch_size"),
    Misuse("train with a float batch size", lambda: _t(batch_size=8.0), V, "batch_size"),
    Misuse("train for True batches", lambda: _t(max_batches=True), V, "max_batches"),
    Misuse("train with a negative time goal", lambda: _t(time_goal=-1), V, "time_goal"),
    Misuse("train with a text time goal", lambda: _t(time_goal="1s"), V, "time_goal"),
    Misuse("train at a NaN learning rate", lambda: _t(learning_rate=float("nan")), V,
           "learning_rate"),
    Misuse("train at a negative learning rate", lambda: _t(learning_rate=-0.1), V, "learning_rate"),
    Misuse("train with 0 accumulation steps", lambda: _t(accumulation_steps=0), V,
           "accumulation_steps"),
    Misuse("train with 2.0 accumulation steps", lambda: _t(accumulation_steps=2.0), V,
           "accumulation_steps"),
    Misuse("train with more accumulation steps than examples in a batch",
           lambda: _t(accumulation_steps=100, batch_size=8), V, "accumulation_steps"),
    Misuse("train with a text seed", lambda: _t(seed="x"), T, "seed"),
    Misuse("train with a float seed", lambda: _t(seed=1.5), T, "seed"),
    Misuse("train with results=1", lambda: _t(results=1), T, "results"),
    # method
    Misuse("train by an unknown method", lambda: _t(method="Adam2"), V, "method"),
    Misuse("train by a number as method", lambda: _t(method=3), V, "method"),
    Misuse("train with a misspelt method option",
           lambda: _t(method=("SGD", {"momentm": 0.5})), K, "method"),
    Misuse("train with a negative momentum", lambda: _t(method=("SGD", {"momentum": -1})), V,
           "method"),
    Misuse("train with a text beta1", lambda: _t(method=("ADAM", {"beta1": "x"})), T, "method"),
    Misuse("train with a zero epsilon", lambda: _t(method=("ADAM", {"epsilon": 0})), V, "method"),
    # loss
    Misuse("train with a number as loss", lambda: _t(loss=3), T, "loss"),
    Misuse("train on a misspelt loss port", lambda: _t(loss="Los"), K, "loss"),
    Misuse("train with a loss on an unknown port",
           lambda: _t(loss={"Out": ng.MeanSquaredLossLayer()}), K, "loss"),
    Misuse("train a one-output net with cross-entropy on 3 classes",
           lambda: _t(REG, loss=ng.CrossEntropyLossLayer("Index")), V, "data"),
    # regularization, multipliers, clipping
    Misuse("train with a negative L2", lambda: _t(l2_regularization=-1), V, "l2_regularization"),
    Misuse("train with a text L2", lambda: _t(l2_regularization="x"), T, "l2_regularization"),
    Misuse("train with a multiplier on an unknown layer",
           lambda: _t(learning_rate_multipliers={"nope": 0}), K, "learning_rate_multipliers"),
    Misuse("train with a negative multiplier", lambda: _t(learning_rate_multipliers={1: -1}), V,
           "learning_rate_multipliers"),
    Misuse("train with text multipliers", lambda: _t(learning_rate_multipliers="x"), T,
           "learning_rate_multipliers"),
    Misuse("train with 0 clipping", lambda: _t(gradient_clipping=0), V, "gradient_clipping"),
    Misuse("train with a misspelt clipping key", lambda: _t(gradient_clipping={"nrm": 1}), K,
           "gradient_clipping"),
    Misuse("train with text clipping", lambda: _t(gradient_clipping="x"), V, "gradient_clipping"),
    # schedules
    Misuse("train on a misspelt schedule", lambda: _t(learning_rate_schedule="Cosin"), V,
           "learning_rate_schedule"),
    Misuse("train on a number as schedule", lambda: _t(learning_rate_schedule=3), V,
           "learning_rate_schedule"),
    Misuse("train with a misspelt schedule option",
           lambda: _t(learning_rate_schedule=("Cosine", {"warm": 3})), K, "learning_rate_schedule"),
    Misuse("train with a negative warm-up",
           lambda: _t(learning_rate_schedule=("Cosine", {"warmup": -1})), T,
           "learning_rate_schedule"),
    Misuse("train with a zero step size",
           lambda: _t(learning_rate_schedule=("Step", {"step_batches": 0})), V,
           "learning_rate_schedule"),
    Misuse("train with a schedule function of one argument",
           lambda: _t(learning_rate_schedule=lambda r: 1.0), T, "learning_rate_schedule"),
    Misuse("train with a schedule function returning NaN",
           lambda: _t(learning_rate_schedule=lambda r, b: float("nan")), V,
           "learning_rate_schedule"),
    Misuse("train with a schedule function returning text",
           lambda: _t(learning_rate_schedule=lambda r, b: "x"), V, "learning_rate_schedule"),
    Misuse("train with a schedule function that raises",
           lambda: _t(learning_rate_schedule=_raise), V, "learning_rate_schedule"),
    # precision, device
    Misuse("train in an unknown precision", lambda: _t(precision="Mixed16"), V, "precision"),
    Misuse("train in float16", lambda: _t(precision="float16"), V, "precision"),
    Misuse("train in precision 32", lambda: _t(precision=32), V, "precision"),
    Misuse("train mixed in int8", lambda: _t(precision=("Mixed", "int8")), V, "precision"),
    Misuse("train on a TPU", lambda: _t(target_device="TPU"), V, "target_device"),
    # data
    Misuse("train on text", lambda: _t(data="data"), T, "data"),
    Misuse("train on one array", lambda: _t(data=X), T, "data"),
    Misuse("train on an empty list", lambda: _t(data=[]), V, "data"),
    Misuse("train on no examples", lambda: _t(data=(X[:0], Y[:0])), V, "data"),
    Misuse("train on inputs and targets of different lengths", lambda: _t(data=(X, Y[:20])), S,
           "data"),
    Misuse("train on the wrong feature size",
           lambda: _t(data=(np.zeros((30, 5), np.float32), Y)), S, "data"),
    Misuse("train on 1-D inputs", lambda: _t(data=(X[:, 0], Y)), S, "data"),
    Misuse("train on strings", lambda: _t(data=(np.array([["a", "b"]] * 30), Y)), T, "data"),
    Misuse("train on complex inputs", lambda: _t(data=(X.astype(np.complex64), Y)), T, "data"),
    Misuse("train on ragged inputs", lambda: _t(data=([[1.0, 2.0], [1.0]], [0, 1])), S, "data"),
    Misuse("train on a misspelt port", lambda: _t(data={"Inpt": X, "Target": Y}), K, "data"),
    Misuse("train without targets", lambda: _t(data={"Input": X}), K, "data"),
    Misuse("train on fractional class labels", lambda: _t(data=(X, Y + 0.5)), V, "data"),
    Misuse("train on 1-based class labels", lambda: _t(data=(X, Y + 1)), V, "data"),
    Misuse("train on a class label out of range", lambda: _t(data=(X, np.where(Y == 0, 7, Y))), V,
           "data"),
    Misuse("train a regression on targets of the wrong shape",
           lambda: _t(REG, data=(X, np.zeros((30, 3), np.float32))), S, "data"),
    Misuse("train on a data function of no arguments",
           lambda: _t(data=lambda: [(X, Y)], max_training_rounds=1), T, "data"),
    Misuse("train on a data function that raises",
           lambda: _t(data=_raise, max_training_rounds=1), V, "data"),
    Misuse("train on a generator of text",
           lambda: _t(data=(b for b in ["x"]), max_training_rounds=1), T, "data"),
    Misuse("train on a generator of the wrong feature size",
           lambda: _t(data=(b for b in [(np.zeros((4, 5), np.float32), Y[:4])]),
                      max_training_rounds=1), S, "data"),
    # validation
    Misuse("validate on a fraction above 1", lambda: _t(validation_set=1.5), V, "validation"),
    Misuse("validate on a fraction 0", lambda: _t(validation_set=0.0), V, "validation"),
    Misuse("validate on an empty set", lambda: _t(validation_set=(X[:0], Y[:0])), V, "validation"),
    Misuse("validate on the wrong feature size",
           lambda: _t(validation_set=(np.zeros((4, 5), np.float32), Y[:4])), S, "validation"),
    Misuse("validate on inputs and targets of different lengths",
           lambda: _t(validation_set=(X[:4], Y[:3])), S, "validation"),
    Misuse("validate on 1-based labels", lambda: _t(validation_set=(X[:5], Y[:5] + 1)), V,
           "validation"),
    Misuse("hold out a fraction of a stream",
           lambda: _t(data=lambda info: [(X, Y)], validation_set=0.2), T, "validation"),
    # measurements, stopping
    Misuse("measure a misspelt measurement", lambda: _t(training_progress_measurements=["Acuracy"]),
           V, "training_progress_measurements"),
    Misuse("measure a number", lambda: _t(training_progress_measurements=[3]), V,
           "training_progress_measurements"),
    Misuse("measure RSquared of a classifier",
           lambda: _t(training_progress_measurements=["RSquared"]), V,
           "training_progress_measurements"),
    Misuse("measure by a function of one argument",
           lambda: _t(training_progress_measurements=[lambda out: 0.0]), T,
           "training_progress_measurements"),
    Misuse("measure by a function that raises",
           lambda: _t(training_progress_measurements=[_raise]), V,
           "training_progress_measurements"),
    Misuse("measure by a function returning text",
           lambda: _t(training_progress_measurements=[lambda o, t: "x"]), T,
           "training_progress_measurements"),
    Misuse("stop on a misspelt measurement", lambda: _t(training_stopping_criterion="Acuracy"), V,
           "training_stopping_criterion"),
    Misuse("stop on a number", lambda: _t(training_stopping_criterion=3), T,
           "training_stopping_criterion"),
    Misuse("stop with patience 0", lambda: _t(training_stopping_criterion={"patience": 0}), V,
           "training_stopping_criterion"),
    Misuse("stop with patience '2'", lambda: _t(training_stopping_criterion={"patience": "2"}), V,
           "training_stopping_criterion"),
    Misuse("stop with a misspelt key", lambda: _t(training_stopping_criterion={"patiense": 2}), K,
           "training_stopping_criterion"),
    Misuse("stop on a Lower direction",
           lambda: _t(training_stopping_criterion={"criterion": ("Loss", "Lower")}), V,
           "training_stopping_criterion"),
    Misuse("stop by a function of two arguments",
           lambda: _t(training_stopping_criterion=lambda a, b: False), T,
           "training_stopping_criterion"),
    Misuse("stop by a function that raises", lambda: _t(training_stopping_criterion=_raise), V,
           "training_stopping_criterion"),
    # reporting, plugins
    Misuse("report by a number", lambda: _t(progress=3), V, "progress"),
    Misuse("report every -1 seconds", lambda: _t(progress=("Print", {"every_seconds": -1})), V,
           "progress"),
    Misuse("report with a misspelt option", lambda: _t(progress=("Print", {"every": 2})), K,
           "progress"),
    Misuse("report by a function of no arguments", lambda: _t(progress=lambda: None), T,
           "progress"),
    Misuse("report by a function that raises", lambda: _t(progress=_raise), V, "progress"),
    Misuse("plug in a function", lambda: _t(plugins=[print]), T, "plugins"),
    Misuse("plug in the Plugin class", lambda: _t(plugins=[Plugin]), T, "plugins"),
    # checkpoints and resume
    Misuse("checkpoint into a file", lambda: _t(checkpoint=str(_FILE)), V, "checkpoint"),
    Misuse("checkpoint under a file", lambda: _t(checkpoint=str(_FILE / "sub")), V, "checkpoint"),
    Misuse("checkpoint every 0 rounds",
           lambda: _t(checkpoint={"dir": str(_TMP / "c"), "every_rounds": 0}), V, "checkpoint"),
    Misuse("checkpoint every 'x' rounds",
           lambda: _t(checkpoint={"dir": str(_TMP / "c"), "every_rounds": "x"}), V, "checkpoint"),
    Misuse("checkpoint keeping 0", lambda: _t(checkpoint={"dir": str(_TMP / "c"), "keep": 0}), V,
           "checkpoint"),
    Misuse("checkpoint every -1 seconds",
           lambda: _t(checkpoint={"dir": str(_TMP / "c"), "every_seconds": -1}), V, "checkpoint"),
    Misuse("checkpoint with a misspelt key",
           lambda: _t(checkpoint={"dir": str(_TMP / "c"), "keeep": 1}), K, "checkpoint"),
    Misuse("checkpoint without a folder", lambda: _t(checkpoint={"keep": 1}), K, "checkpoint"),
    Misuse("checkpoint into a number", lambda: _t(checkpoint={"dir": 3}), T, "checkpoint"),
    Misuse("resume from a number", lambda: _t(resume=3), T, "resume"),
    Misuse("resume from a missing folder", lambda: _t(resume=str(_TMP / "none")), V, "resume"),
    Misuse("resume from a file", lambda: _t(resume=str(_FILE)), V, "resume"),
    Misuse("resume from a folder without checkpoints", lambda: _t(resume=str(_TMP)), V, "resume"),
    Misuse("resume another net", lambda: _t(
        ng.NetInitialize(NetChain([LinearLayer(4), LinearLayer(3), SoftmaxLayer()], input=2)),
        resume=str(_CKPT)), V, "resume"),
    Misuse("resume with another batch size", lambda: _t(resume=str(_CKPT), batch_size=7), V,
           "resume"),
    Misuse("resume with other accumulation steps",
           lambda: _t(resume=str(_CKPT), batch_size=10, accumulation_steps=2), V, "resume"),
]


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _folder(path: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.fixture(scope="module", autouse=True)
def _checkpoint_to_resume():
    if not _CKPT.exists():
        _t(checkpoint=str(_CKPT), batch_size=10)
    yield


@params(ROWS)
def test_train_misuse(row):
    nets = [(n, _state(n)) for n in (NET, REG)]
    ckpt = _folder(_CKPT)
    check(row)
    for n, before in nets:           # the net handed in is never changed by a refused call
        after = n.state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before)
    assert _folder(_CKPT) == ckpt     # a refused resume leaves the checkpoint as it was


def test_a_failure_mid_run_keeps_the_learned_state_in_the_checkpoint(tmp_path):
    """A user function failing in round 3 is a netgrad error whose fix says the state up to
    that batch was saved; resuming from it finishes the run like an uninterrupted one."""
    whole = _t(max_batches=None, max_training_rounds=4, batch_size=10, seed=1)

    def report(info):
        if info["Round"] == 2:
            raise RuntimeError("the dashboard is down")
    folder = tmp_path / "run"
    with pytest.raises(ng.NetValueError) as info:
        _t(max_batches=None, max_training_rounds=4, batch_size=10, seed=1,
           checkpoint=str(folder), progress=(report, {"every_rounds": 1}))
    e = info.value
    assert "progress" in e.where and "RuntimeError: the dashboard is down" in e.got
    assert "saved" in e.fix and f"resume={str(folder)!r}" in e.fix
    assert isinstance(e.__cause__, RuntimeError)
    resumed = _t(max_batches=None, max_training_rounds=4, batch_size=10, seed=1,
                 resume=str(folder))
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)

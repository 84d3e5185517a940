"""netgrad.train at NetTrain's level: schedules, measurements, reporting, goals, results,
mixed precision, gradient accumulation, resume checks and plugins."""

import math
import re
import warnings

import numpy as np
import pytest
import torch

import netgrad
from netgrad import ElementwiseLayer, LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import Plugin, ResumeWarning, TrainingResults, train


def blobs(n=120, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7], [1.5, 1.5]])[:classes]
    labels = rng.integers(0, classes, size=n)
    x = centers[labels] + 0.6 * rng.normal(size=(n, 2))
    return x.astype(np.float32), labels


def classifier(seed=0, classes=3):
    return netgrad.NetInitialize(NetChain([LinearLayer(8), "Tanh", LinearLayer(classes),
                                           SoftmaxLayer()], input=2), seed=seed)


def quiet(**kw):
    return dict(progress=False, results=True, seed=0, **kw)


# ---- schedules -------------------------------------------------------------------------------

def test_cosine_schedule_with_warmup_follows_torch_and_ends_at_zero():
    x, y = blobs(64)
    r = train(classifier(), (x, y), batch_size=16, max_training_rounds=3, learning_rate=0.1,
              learning_rate_schedule=("Cosine", {"warmup": 2}), **quiet())
    lrs = r.learning_rates
    assert len(lrs) == 12 == r.steps
    # warm-up 1/3, 2/3 of 0.1, then a cosine from 0.1 over the remaining 10 steps
    expect = [0.1 / 3, 0.2 / 3] + [0.05 * (1 + math.cos(math.pi * s / 10)) for s in range(10)]
    np.testing.assert_allclose(lrs, expect, rtol=1e-9)
    assert r.final_learning_rate == pytest.approx(0.0, abs=1e-12)
    assert r.initial_learning_rate == 0.1


@pytest.mark.parametrize("name, last", [("Linear", 0.1 / 12), ("Exponential", None),
                                        ("Step", 0.001), ("Polynomial", None), ("Constant", 0.1)])
def test_named_schedules_decrease_to_their_end(name, last):
    x, y = blobs(64)
    r = train(classifier(), (x, y), batch_size=16, max_training_rounds=3, learning_rate=0.1,
              learning_rate_schedule=name, **quiet())
    lrs = r.learning_rates
    assert lrs[0] == pytest.approx(0.1)
    assert all(a >= b - 1e-15 for a, b in zip(lrs, lrs[1:]))
    if last is not None:
        assert lrs[-1] == pytest.approx(last)


def test_function_schedule_gets_round_and_batch_and_keeps_multipliers():
    x, y = blobs(64)
    seen = []

    def f(round_, batch):
        seen.append((round_, batch))
        return 0.5 ** (round_ - 1)
    r = train(classifier(), (x, y), batch_size=32, max_training_rounds=3, learning_rate=0.2,
              learning_rate_schedule=f, learning_rate_multipliers={2: 0.5}, **quiet())
    assert seen == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    assert r.learning_rates == [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    assert r["FinalLearningRate"] == 0.05


# ---- measurements ----------------------------------------------------------------------------

def _classification_reference(probs, labels, k):
    pred = probs.argmax(-1)
    cm = np.zeros((k, k))
    for t, p in zip(labels, pred):
        cm[t, p] += 1
    tp = np.diag(cm)
    prec = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    rec = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(k), where=(prec + rec) > 0)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return {"Accuracy": tp.sum() / cm.sum(), "ErrorRate": 1 - tp.sum() / cm.sum(),
            "Precision": prec[present].mean(), "Recall": rec[present].mean(),
            "F1": f1[present].mean()}


def test_classification_measurements_match_a_reference_on_training_and_validation():
    x, y = blobs(150)
    xv, yv = blobs(60, seed=1)
    names = ["Accuracy", "ErrorRate", "Precision", "Recall", "F1"]
    net = classifier(seed=3)
    # learning rate 0: the net stays as it is, so the per-round training measurement (taken over
    # the round's batches as they come) equals the measurement of the net on all the data
    r = train(net, (x, y), validation_set=(xv, yv), batch_size=32, max_training_rounds=2,
              learning_rate=0.0, training_progress_measurements=names, **quiet())
    for data, rows in (((x, y), r.round_measurements_lists), ((xv, yv), r.validation_measurements_lists)):
        ref = _classification_reference(np.asarray(net(data[0])), data[1], 3)
        assert len(rows) == 2
        for k in names:
            assert rows[-1][k] == pytest.approx(ref[k], rel=1e-12), k
    assert r["ValidationMeasurements"] == r.validation_measurements_lists[-1]


def test_regression_measurements_and_a_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0]], np.float32) + 0.3).astype(np.float32)
    net = netgrad.NetInitialize(NetChain([LinearLayer(1)], input=2), seed=0)
    r = train(net, (x, y), batch_size=30, max_training_rounds=1, learning_rate=0.0,
              training_progress_measurements=["MAE", "MSE", "RMSE", "RSquared",
                                              {"measurement": lambda o, t: (o - t).mean(), "name": "bias"}],
              **quiet())
    p = np.asarray(net(x))
    row = r.round_measurements_lists[0]
    assert row["MeanAbsoluteError"] == pytest.approx(np.abs(p - y).mean(), rel=1e-5)
    assert row["MeanSquaredError"] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)
    assert row["RootMeanSquaredError"] == pytest.approx(np.sqrt(((p - y) ** 2).mean()), rel=1e-5)
    assert row["RSquared"] == pytest.approx(1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum(), rel=1e-5)
    # a function's value is averaged over the round's examples (batch means weighted by size)
    assert row["bias"] == pytest.approx((p - y).mean(), rel=1e-4)


def test_criterion_maximizes_accuracy_and_picks_the_best_round():
    x, y = blobs(200)
    r = train(classifier(), (x, y), validation_set=0.3, batch_size=20, max_training_rounds=60,
              learning_rate=0.05, training_progress_measurements=["Accuracy"],
              training_stopping_criterion={"criterion": "Accuracy", "patience": 4}, **quiet())
    acc = [row["Accuracy"] for row in r.validation_measurements_lists]
    assert "validation Accuracy for 4 rounds (patience=4)" in r.stop_reason
    assert r.best_round == int(np.argmax(acc)) + 1            # first of the best (strictly better)
    assert r.rounds_completed - r.best_round >= 4
    # the returned net is the best round's, not the last
    assert r.net is not r.final_net
    assert not torch.equal(r.net[0].Weights, r.final_net[0].Weights)


def test_measurement_errors_name_the_fix():
    x, y = blobs(30)
    with pytest.raises(netgrad.NetValueError, match=r"did you mean 'Accuracy'"):
        train(classifier(), (x, y), training_progress_measurements=["Acuracy"], **quiet())
    with pytest.raises(netgrad.NetValueError, match=r"RSquared measures a regression.*Fix: use one of"):
        train(classifier(), (x, y), training_progress_measurements=["RSquared"], **quiet())
    with pytest.raises(netgrad.NetValueError, match=r"criterion is the loss or a measurement.*"
                                                    r"Fix: did you mean 'Accuracy'\?"):
        train(classifier(), (x, y), training_progress_measurements=["Accuracy"],
              training_stopping_criterion="Accurcy", **quiet())


# ---- reporting -------------------------------------------------------------------------------

def test_print_reports_each_round(capsys):
    x, y = blobs(64)
    train(classifier(), (x, y), batch_size=32, max_training_rounds=3, seed=0, progress="Print",
          training_progress_measurements=["Accuracy"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [re.match(r"netgrad.train: round (\d)/3, loss [\d.]+, Accuracy [\d.]+", ln) is not None
            for ln in lines[:3]] == [True] * 3
    assert lines[3] == "netgrad.train: stopped: max_training_rounds=3 reached"


def test_progress_function_every_n_batches_and_every_round():
    x, y = blobs(64)
    calls = []
    train(classifier(), (x, y), batch_size=16, max_training_rounds=3, seed=0,
          progress=(calls.append, {"every_batches": 3}))
    assert [c["AbsoluteBatch"] for c in calls] == [3, 6, 9, 12]
    assert calls[-1]["Round"] == 3 and calls[-1]["Batch"] == 4 and calls[-1]["BatchesPerRound"] == 4
    assert math.isfinite(calls[-1]["BatchLoss"]) and calls[-1]["LearningRate"] == 1e-3
    rounds = []
    train(classifier(), (x, y), batch_size=16, max_training_rounds=4, seed=0, progress=rounds.append)
    assert [c["Round"] for c in rounds] == [1, 2, 3, 4]
    assert [c["RoundLoss"] is not None for c in rounds] == [True] * 4


def test_progress_bar_is_right_at_the_end(capsys):
    x, y = blobs(64)
    train(classifier(), (x, y), batch_size=16, max_training_rounds=3, seed=0,
          progress="ProgressIndicator")
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "round 3/3" in last and "12/12" in last and "100%" in last and "batch 4/4" in last
    assert re.search(r"loss [\d.]+", last)


@pytest.mark.parametrize("bad", ["Verbose", 3, ("Print", {"every_batches": 2}),
                                 ("Print", {"every_seconds": 0})])
def test_bad_progress_values_are_errors(bad):
    x, y = blobs(30)
    with pytest.raises(netgrad.NetgradError, match=r"netgrad.train, progress: .*Fix"):
        train(classifier(), (x, y), progress=bad)


# ---- goals -----------------------------------------------------------------------------------

def test_max_batches_and_time_goal_stop_cleanly_with_the_reason():
    x, y = blobs(64)
    r = train(classifier(), (x, y), batch_size=16, max_batches=6, **quiet())
    assert r.steps == 6 and r.stop_reason == "max_batches=6 reached"
    assert r.rounds_completed == 1 and r.total_batches == 6
    r = train(classifier(), (x, y), batch_size=16, time_goal=0.3, **quiet())
    assert r.stop_reason.startswith("time_goal=0.3 s reached")
    assert r.steps > 0 and r.total_training_time < 5.0


# ---- results ---------------------------------------------------------------------------------

def test_results_by_wolfram_name_html_and_errors():
    x, y = blobs(64)
    r = train(classifier(), (x, y), batch_size=16, max_training_rounds=2, validation_set=0.25,
              **quiet())
    assert r["TrainedNet"] is r.net and r["RoundLossList"] == r.round_losses
    assert r["RoundLoss"] == r.round_losses[-1] and r["ValidationLoss"] == r.validation_losses[-1]
    assert r["BatchSize"] == 16 and r["BatchesPerRound"] == 3 and r["TotalBatches"] == 6
    assert r["ExamplesProcessed"] == 96 and r["TrainingExamples"] == 48
    assert r["MeanBatchesPerSecond"] > 0 and r["TotalTrainingTime"] > 0
    assert r["SkippedBatches"] == [] and r["CheckpointingFiles"] == []
    assert r["ReasonTrainingStopped"] == "max_training_rounds=2 reached"
    assert r["OptimizationMethod"] == "ADAM" and r["TotalRounds"] == 2
    for wolfram in r.properties():
        r[wolfram]                                   # every listed property resolves
    with pytest.raises(netgrad.NetKeyError, match=r"got 'RoundLosList'.*did you mean 'RoundLossList'"):
        r["RoundLosList"]
    page = r._repr_html_()
    assert "<svg" in page and "TrainingResults" in page and "max_training_rounds=2" in page


def test_results_fields_named_by_wolfram_exist():
    from netgrad.train._results import WOLFRAM_NAMES
    fields = set(TrainingResults.__dataclass_fields__)
    assert {v for v in WOLFRAM_NAMES.values() if isinstance(v, str)} <= fields


def test_plot_any_measurement(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    x, y = blobs(90)
    r = train(classifier(), (x, y), batch_size=15, max_training_rounds=4, validation_set=0.2,
              training_progress_measurements=["Accuracy"], **quiet())
    fig = r.plot("Loss", "Accuracy")
    loss_ax, acc_ax = fig.axes
    assert acc_ax.get_ylabel() == "Accuracy"
    (train_line, val_line) = [ln for ln in acc_ax.lines if ln.get_label() in ("training", "validation")]
    np.testing.assert_allclose(train_line.get_ydata(), r.series("Accuracy"))
    np.testing.assert_allclose(val_line.get_ydata(), r.series("Accuracy", "validation"))
    fig.savefig(tmp_path / "curves.png")
    with pytest.raises(netgrad.NetKeyError, match=r"no training measurement 'F1'.*Fix"):
        r.plot("F1")


# ---- mixed precision -------------------------------------------------------------------------

def normalized_net():
    # a linear layer whose activations are ~1e3, then a normalization of each activation vector
    # (netgrad.ops.norm: computed relative to the largest magnitude)
    return netgrad.NetInitialize(NetChain([
        LinearLayer(16), ElementwiseLayer(lambda v: v / netgrad.ops.norm(v, dim=-1, keepdim=True)),
        LinearLayer(3), SoftmaxLayer()], input=2), seed=0)


def test_activations_that_overflow_float16_naively_train_in_mixed_float16():
    x, y = blobs(96)
    x = x * 400.0
    net = normalized_net()
    a = torch.as_tensor(x[:8]) @ net[0].Weights.T.detach() + net[0].Biases.detach()
    h = a.half()
    assert torch.isfinite(h).all() and h.abs().max() > 256            # representable in float16
    naive = h / h.pow(2).sum(-1, keepdim=True).sqrt()                  # Σx² overflows (> 65504)
    assert not torch.isfinite(naive).all() or (naive == 0).all()
    assert torch.isfinite(h / netgrad.ops.norm(h, dim=-1, keepdim=True)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = train(net, (x, y), batch_size=16, max_training_rounds=8, learning_rate=0.02,
                  precision=("Mixed", "float16"), **quiet())
    assert not r.skipped_steps
    assert all(math.isfinite(v) for v in r.batch_losses)
    assert r.round_losses[-1] < r.round_losses[0]
    assert r.net[0].Weights.dtype == torch.float32 and r.precision.startswith("mixed (float16")


def test_mixed_bfloat16_on_cpu_keeps_float32_arrays_and_tracks_float32():
    x, y = blobs(96)
    dtypes = []

    class Look(Plugin):
        def after_batch(self, state):
            dtypes.append({p.dtype for p in state.params})
    r32 = train(classifier(), (x, y), batch_size=16, max_training_rounds=5, learning_rate=0.05, **quiet())
    rm = train(classifier(), (x, y), batch_size=16, max_training_rounds=5, learning_rate=0.05,
               precision="Mixed", plugins=[Look()], **quiet())
    assert dtypes and all(d == {torch.float32} for d in dtypes)       # master weights
    assert rm.precision == "mixed (bfloat16 forward, float32 arrays)"
    assert rm.round_losses != r32.round_losses                         # the forward is bfloat16
    np.testing.assert_allclose(rm.round_losses, r32.round_losses, rtol=0.1, atol=1e-3)


def test_float16_overflow_is_replayed_in_float32_reported_and_the_scale_lowered():
    # A loss of ~1e3 times the initial loss scale 65536 overflows float16 in the backward: the
    # first step is recomputed in float32 and applied, and the GradScaler's scale drops.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (30.0 * rng.normal(size=(32, 1))).astype(np.float32)
    net = netgrad.NetInitialize(NetChain([LinearLayer(1)], input=4), seed=0)
    scales = []

    class Scale(Plugin):
        def after_batch(self, state):
            scales.append(state.scaler.get_scale())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = train(net, (x, y), batch_size=32, max_training_rounds=3, learning_rate=0.01,
                  precision=("Mixed", "float16"), plugins=[Scale()], **quiet())
    assert r.steps == 3 and not r.skipped_steps
    assert r.replayed_steps and r.replayed_steps[0].kind == "float16 overflow"
    assert "recomputed in float32 and applied" in r.replayed_steps[0].message
    assert scales[0] < 65536.0


# ---- gradient accumulation -------------------------------------------------------------------

def test_accumulation_is_the_large_batch():
    x, y = blobs(100)
    net = classifier()
    kw = dict(batch_size=25, max_training_rounds=3, method=("SGD", {"momentum": 0.9}),
              learning_rate=0.1, precision="float64", **quiet())
    one = train(net, (x, y), **kw)
    four = train(net, (x, y), accumulation_steps=4, **kw)
    uneven = train(net, (x, y), accumulation_steps=3, **kw)   # parts of 9, 8, 8 examples
    for other in (four, uneven):
        np.testing.assert_allclose(other.batch_losses, one.batch_losses, rtol=1e-12)
        for a, b in zip(one.net.parameters(), other.net.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    with pytest.raises(netgrad.NetValueError, match=r"accumulation_steps.*at most the batch size.*Fix"):
        train(net, (x, y), accumulation_steps=30, batch_size=25, **quiet())


# ---- resume refuses or warns, naming the difference ------------------------------------------

def test_resume_refuses_another_batch_size_and_warns_on_data_size_and_options(tmp_path):
    x, y = blobs(64)
    net = classifier()
    train(net, (x, y), batch_size=16, max_training_rounds=1, checkpoint=str(tmp_path), **quiet())
    with pytest.raises(netgrad.NetValueError, match=r"keeps the batch_size.*got batch_size=32 here "
                                                    r"and 16 in the checkpoint.*Fix: pass batch_size=16"):
        train(net, (x, y), batch_size=32, max_training_rounds=2, resume=str(tmp_path), **quiet())
    with pytest.warns(ResumeWarning, match=r"the data has 48 examples here and 64.*learning_rate "
                                           r"is 0.01 here and 0.001"):
        r = train(net, (x[:48], y[:48]), batch_size=16, max_training_rounds=2, learning_rate=0.01,
                  resume=str(tmp_path), **quiet())
    assert r.start_round == 1 and r.rounds_completed == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(net, (x, y), batch_size=16, max_training_rounds=2, resume=str(tmp_path), **quiet())


def test_checkpoint_files_are_listed_and_a_time_goal_saves_the_position(tmp_path):
    x, y = blobs(64)
    r = train(classifier(), (x, y), batch_size=16, max_training_rounds=3,
              checkpoint={"dir": str(tmp_path), "keep": 2}, **quiet())
    assert len(r["CheckpointingFiles"]) == 2
    assert all(f.startswith(str(tmp_path)) for f in r.checkpointing_files)
    r = train(classifier(), (x, y), batch_size=16, max_batches=6, checkpoint=str(tmp_path / "b"),
              **quiet())
    assert r.checkpointing_files[-1].endswith("-b0000002-s000000006.netgrad")
    more = train(classifier(), (x, y), batch_size=16, max_training_rounds=2, resume=str(tmp_path / "b"),
                 **quiet())
    assert more.steps == 8 and more.start_round == 1


# ---- plugins ---------------------------------------------------------------------------------

def test_a_plugin_sees_every_batch_and_round_and_can_stop():
    x, y = blobs(64)
    events = []

    class Stopper(Plugin):
        def start(self, state):
            events.append("start")

        def after_batch(self, state):
            events.append(("batch", state.round, state.batch))

        def after_round(self, state):
            events.append(("round", state.round))
            if state.round == 2:
                state.stop("enough")

        def finish(self, state):
            events.append("finish")
    r = train(classifier(), (x, y), batch_size=32, max_training_rounds=5, plugins=[Stopper()], **quiet())
    assert events == ["start", ("batch", 0, 1), ("batch", 0, 2), ("round", 1), ("batch", 1, 1),
                      ("batch", 1, 2), ("round", 2), "finish"]
    assert r.stop_reason == "enough" and r.rounds_completed == 2

"""Misuses of netgrad.train (issue 17's train-area list): each is a netgrad error that names
where, the rule, what was received and a fix; nothing is trained and the argument is unchanged."""

import numpy as np
import pytest
import torch

import netgrad
from netgrad import LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import train


def small():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    return netgrad.NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer()], input=2), seed=0), x, y


def four_parts(e: netgrad.NetgradError) -> None:
    assert e.where and e.rule and e.got and e.fix, (e.where, e.rule, e.got, e.fix)
    assert str(e).startswith(e.where)


def misuse(tmp_path):
    net, x, y = small()
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    return net, x, y, [
        # (keyword arguments or data, error class, pattern)
        (dict(epochs=5), netgrad.NetTypeError, r"no option 'epochs'.*did you mean max_training_rounds=5\?"),
        (dict(lr=0.1), netgrad.NetTypeError, r"did you mean learning_rate=0.1\?"),
        (dict(MaxTrainingRounds=3), netgrad.NetTypeError, r"did you mean max_training_rounds=3\?"),
        (dict(max_grad_norm=1.0), netgrad.NetTypeError, r'did you mean gradient_clipping=\{"norm": 1.0\}'),
        (dict(batchsize=8), netgrad.NetTypeError, r"did you mean batch_size=8\?"),
        (dict(checkpoint=str(afile)), netgrad.NetValueError,
            r"checkpoint folder is a folder.*which is a file.*Fix"),
        (dict(checkpoint=str(afile / "sub")), netgrad.NetValueError,
            r"checkpoint folder can be created.*Fix"),
        (dict(checkpoint={"dir": str(tmp_path / "c"), "every_rounds": 0}), netgrad.NetValueError,
         r"every_rounds is a positive int; got 0. Fix"),
        (dict(checkpoint={"dir": str(tmp_path / "c"), "keep": 0}), netgrad.NetValueError,
            r"keep is a positive int.*got 0. Fix"),
        (dict(checkpoint={"dir": str(tmp_path / "c"), "every_seconds": -1}), netgrad.NetValueError,
            r"every_seconds.*Fix"),
        (dict(checkpoint={"dir": 3}), netgrad.NetTypeError, r"checkpoint directory is a path.*Fix"),
        (dict(max_training_rounds=2.0), netgrad.NetValueError,
            r"max_training_rounds is a positive int; got 2.0. Fix: pass the int max_training_rounds=2"),
        (dict(max_training_rounds=0), netgrad.NetValueError,
            r"max_training_rounds is a positive int; got 0. Fix"),
        (dict(batch_size=-3), netgrad.NetValueError, r"batch_size is a positive int; got -3. Fix"),
        (dict(max_batches=True), netgrad.NetValueError, r"max_batches is a positive int; got True. Fix"),
        (dict(time_goal=-1), netgrad.NetValueError,
            r"time_goal is a positive number of seconds; got -1. Fix"),
        (dict(learning_rate=float("nan")), netgrad.NetValueError,
            r"learning_rate is a finite number ≥ 0; got nan. Fix"),
        (dict(learning_rate=-0.1), netgrad.NetValueError, r"learning_rate is a finite number.*Fix"),
        (dict(gradient_clipping=0), netgrad.NetValueError,
            r"gradient_clipping is a positive finite number; got 0. Fix"),
        (dict(accumulation_steps=0), netgrad.NetValueError,
            r"accumulation_steps is a positive int; got 0. Fix"),
        (dict(validation_set=1.5), netgrad.NetValueError,
            r"validation fraction lies strictly between 0 and 1.*Fix"),
        (dict(seed="x"), netgrad.NetTypeError, r"seed is an int or None; got 'x'. Fix"),
        (dict(resume=3), netgrad.NetTypeError, r"resume is a checkpoint folder.*Fix"),
        (dict(results="yes"), netgrad.NetTypeError, r"results is True or False.*Fix"),
        (dict(training_stopping_criterion={"patience": 0}), netgrad.NetValueError,
            r"patience is an int ≥ 1; got 0. Fix"),
        (dict(training_stopping_criterion={"patiense": 2}), netgrad.NetKeyError,
            r"no key 'patiense'.*did you mean 'patience'"),
        (dict(training_stopping_criterion={"criterion": ("Loss", "Lower")}), netgrad.NetValueError,
            r'"Minimize" or "Maximize".*Fix'),
        (dict(learning_rate_schedule="Cosin"), netgrad.NetValueError, r"did you mean 'Cosine'\?"),
        (dict(learning_rate_schedule=("Cosine", {"warm": 3})), netgrad.NetKeyError, r"no option 'warm'.*Fix"),
        (dict(precision="Mixed16"), netgrad.NetValueError,
            r'precision is "float32", "float64", or "Mixed".*Fix'),
        (dict(precision=("Mixed", "int8")), netgrad.NetValueError, r"float16 or bfloat16.*Fix"),
        (dict(plugins=[print]), netgrad.NetTypeError, r"plugins are netgrad.train.Plugin objects.*Fix"),
        (dict(training_progress_measurements=[3]), netgrad.NetValueError,
            r"a measurement is a built-in name.*Fix"),
    ]


def test_option_misuses(tmp_path):
    net, x, y, cases = misuse(tmp_path)
    before = [p.detach().clone() for p in net.parameters()]
    for kwargs, cls, pattern in cases:
        with pytest.raises(cls, match=pattern) as info:
            train(net, (x, y), progress=False, max_batches=kwargs.pop("max_batches", 2), **kwargs)
        four_parts(info.value)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("labels, where, pattern", [
    (lambda y: y + 1, "data", r"class indices are 0-based: 0 to 2 for 3 classes; got labels from 1 "
                              r"to 3, which look 1-based.*Fix: subtract 1"),
    (lambda y: np.where(np.arange(30) == 7, 5, y), "data",
     r"class indices lie in 0 to 2.*got labels from 0 to 5; the first out of range is 5, in example 7.*"
     r"Fix: give the output layer as many classes"),
    (lambda y: np.where(np.arange(30) == 2, -1, y), "data", r"first out of range is -1, in example 2"),
])
def test_label_misuses_in_training_data(labels, where, pattern):
    net, x, y = small()
    with pytest.raises(netgrad.NetValueError, match=pattern) as info:
        train(net, (x, labels(y)), progress=False, max_batches=1)
    assert info.value.where == f'netgrad.train, {where}, port "Target"'
    four_parts(info.value)


def test_label_misuses_in_validation_data_and_in_a_stream():
    net, x, y = small()
    with pytest.raises(netgrad.NetValueError, match=r'validation_set, port "Target": class indices '
                                                    r"are 0-based.*Fix: subtract 1") as info:
        train(net, (x, y), validation_set=(x[:5], y[:5] + 1), progress=False, max_batches=1)
    four_parts(info.value)

    def rounds(info):
        yield x[:10], y[:10]
        yield x[10:20], np.full(10, 9)
    with pytest.raises(netgrad.NetValueError, match=r"first out of range is 9.*Fix") as info:
        train(net, rounds, progress=False, max_training_rounds=1)
    four_parts(info.value)


@pytest.mark.parametrize("data, pattern", [
    ((np.zeros((0, 2), np.float32), np.zeros(0, int)),
        r"training data has at least one example; got 0 examples. Fix"),
    ([], r"data must contain examples; got an empty list"),
    ((np.zeros((5, 2)), np.full(5, 0.5)), r"expected integers \(class indices\)"),
])
def test_empty_data_and_bad_labels(data, pattern):
    net, _, _ = small()
    with pytest.raises(netgrad.NetgradError, match=pattern):
        train(net, data, progress=False)


def test_empty_validation_set():
    net, x, y = small()
    with pytest.raises(netgrad.NetValueError,
                       match=r"validation_set: validation data has at least one example.*Fix") as info:
        train(net, (x, y), validation_set=(x[:0], y[:0]), progress=False)
    four_parts(info.value)


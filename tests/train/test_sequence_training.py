"""netgrad.train on sequences of different lengths, end to end: a character-level classifier
(EmbeddingLayer -> LSTM -> SequenceLastLayer -> LinearLayer -> SoftmaxLayer) and a small causal
attention model on a copy task, on embedded synthetic data; and the data forms that carry
sequences (lists, pairs, generators, validation sets)."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AttentionLayer, EmbeddingLayer, LinearLayer, LongShortTermMemoryLayer,
                     NetChain, NetGraph, NetMapOperator, NetPort, SequenceIndicesLayer,
                     SequenceLastLayer, SoftmaxLayer, ThreadingLayer)


@pytest.fixture(autouse=True)
def _seed_every_test():
    torch.manual_seed(0)


def _texts(n, seed):
    """Strings of 4 to 12 characters over a 12-letter alphabet; class c draws 80% of its
    letters from its own third of the alphabet (the rest uniformly)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        c = int(rng.integers(3))
        length = int(rng.integers(4, 13))
        own = rng.random(length) < 0.8
        chars = np.where(own, rng.integers(4 * c, 4 * c + 4, length), rng.integers(0, 12, length))
        texts.append("".join("abcdefghijkl"[i] for i in chars))
        labels.append(c)
    return texts, labels


def _encode(texts):
    return [[ord(ch) - ord("a") for ch in t] for t in texts]


def _classifier():
    return NetChain([EmbeddingLayer(8, 12), LongShortTermMemoryLayer(16), SequenceLastLayer(),
                     LinearLayer(3), SoftmaxLayer()], input=("Varying",))


def test_character_level_classifier_on_strings_of_varying_length():
    texts, labels = _texts(400, seed=0)
    trained = ng.train(_classifier(), (_encode(texts), labels), max_training_rounds=8,
                       batch_size=32, learning_rate=0.01, seed=0, progress=False)
    test_texts, test_labels = _texts(300, seed=1)
    probs = trained(_encode(test_texts))
    accuracy = float((probs.argmax(-1) == np.array(test_labels)).mean())
    assert accuracy > 0.95, accuracy
    # one text alone gets the probabilities it gets inside a batch
    np.testing.assert_allclose(trained(_encode(test_texts[:1]))[0], probs[0], rtol=1e-5, atol=1e-6)


def _copy_data(n, seed):
    """Token sequences (1..5) of 3 to 8 tokens; the target at each position is the token before
    it (0 at the first): the model must attend to the previous position."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        x = rng.integers(1, 6, int(rng.integers(3, 9)))
        xs.append(x.tolist())
        ys.append([0] + x[:-1].tolist())
    return xs, ys


def _causal_attention_model(d=16, vocab=6):
    return NetGraph({
        "tok": EmbeddingLayer(d, vocab), "idx": SequenceIndicesLayer(8), "pos": EmbeddingLayer(d, 8),
        "add": ThreadingLayer("Plus"), "q": NetMapOperator(LinearLayer(d)),
        "k": NetMapOperator(LinearLayer(d)), "v": NetMapOperator(LinearLayer(d)),
        "att": AttentionLayer(mask="Causal"), "out": NetMapOperator(LinearLayer(vocab)),
        "soft": SoftmaxLayer()},
        [(NetPort("Input"), "tok"), (NetPort("Input"), "idx", "pos"), (["tok", "pos"], "add"),
         ("add", "q"), ("add", "k"), ("add", "v"), ("k", NetPort("att", "Key")),
         ("v", NetPort("att", "Value")), ("q", NetPort("att", "Query")), ("att", "out", "soft")],
        Input=("Varying",))


def test_causal_attention_model_learns_a_copy_task():
    xs, ys = _copy_data(500, seed=0)
    r = ng.train(_causal_attention_model(), (xs, ys), max_training_rounds=14, batch_size=32,
                 learning_rate=0.01, seed=0, progress=False, results=True)
    assert "CrossEntropy" in r.loss_description or "cross" in r.loss_description.lower()
    test_x, test_y = _copy_data(200, seed=1)
    probs = r.net(test_x)
    correct = np.concatenate([p.argmax(-1) == np.array(y) for p, y in zip(probs, test_y)])
    assert [p.shape for p in probs[:3]] == [(len(x), 6) for x in test_x[:3]]
    assert correct.mean() > 0.95, correct.mean()


def test_sequences_in_every_data_form():
    texts, labels = _texts(64, seed=2)
    tokens = _encode(texts)
    net = _classifier()
    pairs = ng.train(net, list(zip(tokens, labels)), max_training_rounds=1, batch_size=16,
                     seed=0, progress=False, results=True)
    arrays = ng.train(net, {"Input": tokens, "Target": labels}, max_training_rounds=1,
                      batch_size=16, seed=0, progress=False, results=True)
    assert pairs.round_losses == pytest.approx(arrays.round_losses, rel=1e-6)

    def batches(info):
        for i in range(0, 64, 16):
            yield tokens[i:i + 16], labels[i:i + 16]

    streamed = ng.train(net, batches, max_training_rounds=2, seed=0, progress=False,
                        results=True)
    assert streamed.rounds_completed == 2 and np.isfinite(streamed.round_losses).all()
    validated = ng.train(net, (tokens, labels), validation_set=0.25, max_training_rounds=2,
                         batch_size=16, seed=0, progress=False, results=True)
    assert len(validated.validation_losses) == 2 and np.isfinite(validated.validation_losses).all()


def test_ragged_data_for_a_port_that_is_not_a_sequence_says_so():
    net = NetChain([LinearLayer(2)], input=3)
    with pytest.raises(ng.ShapeError, match=r"ragged list.*Varying"):
        ng.train(net, ([[1.0, 2.0, 3.0], [1.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]]),
                 max_training_rounds=1, progress=False)


def test_gan_operator_trains_its_two_nets_in_turn():
    """netgrad.train alternates the discriminator's and the generator's steps; on 1-D data the
    generated samples move from around 0 to the data's neighbourhood (around 3)."""
    gen = NetChain([LinearLayer(8), "Tanh", LinearLayer(1)], input=2)
    disc = NetChain([LinearLayer(16), "Tanh", LinearLayer(1), "LogisticSigmoid"], input=1)
    gan = ng.NetInitialize(ng.NetGANOperator(gen, disc), seed=0)
    real = np.random.default_rng(0).normal(3.0, 0.5, size=(512, 1)).astype("float32")
    z = np.random.default_rng(1).normal(size=(2000, 2)).astype("float32")
    before = gan["Generator"](z)
    r = ng.train(gan, real, max_training_rounds=25, batch_size=64, learning_rate=0.003,
                 method=("ADAM", {"beta1": 0.5}), seed=0, progress=False, results=True)
    batches = 25 * 8
    assert r.steps == 2 * batches and len(r.generator_losses) == batches
    assert len(r.batch_losses) == batches and np.isfinite(r.round_losses).all()
    after = r.net["Generator"](z)
    assert abs(before.mean()) < 0.5 and 2.0 < after.mean() < 4.0, after.mean()
    assert after.std() < 1.0, after.std()
    # the discriminator's arrays moved (its steps were applied), and so did the generator's
    for name in ("Generator", "Discriminator"):
        w0 = gan[name][0].Weights.detach().numpy()
        w1 = r.net[name][0].Weights.detach().numpy()
        assert not np.allclose(w0, w1), name

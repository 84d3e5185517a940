"""netgrad.train takes data in the encoders' forms: images with labels (mapped through the
net's class decoder to indices), as pairs, as (inputs, targets) and as a validation set."""

import numpy as np
import pytest
from PIL import Image

import netgrad as ng
from netgrad import FlattenLayer, LinearLayer, NetChain, SoftmaxLayer
from netgrad.encoders import NetDecoder, NetEncoder

LABELS = ["dark", "bright"]


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    labels = [LABELS[i % 2] for i in range(n)]
    imgs = [Image.fromarray(np.clip(np.full((12, 12), 200 if lab == "bright" else 0)
                                    + rng.integers(0, 50, (12, 12)), 0, 255).astype(np.uint8))
            for lab in labels]
    return imgs, labels


def net():
    return NetChain([FlattenLayer(), LinearLayer(2), SoftmaxLayer()],
                    input=NetEncoder("Image", size=(6, 6), color_space="Grayscale"),
                    output=NetDecoder("Class", LABELS))


def test_images_and_labels_train_exactly_as_their_encoded_arrays():
    imgs, labels = images(40)
    kw = dict(max_training_rounds=10, batch_size=8, seed=0, progress=False, results=True,
              learning_rate=0.05)
    r = ng.train(net(), (imgs, labels), **kw)
    plain = NetChain([FlattenLayer(), LinearLayer(2), SoftmaxLayer()], input=(1, 6, 6))
    encoded = NetEncoder("Image", size=(6, 6), color_space="Grayscale")(imgs)
    r2 = ng.train(plain, (encoded, np.array([LABELS.index(x) for x in labels])), **kw)
    assert r.loss_description.startswith('CrossEntropyLossLayer("Index")')
    assert r.round_losses == pytest.approx(r2.round_losses, rel=1e-6)
    assert r.net(imgs[:8]) == labels[:8]                       # a trained net gives labels


def test_pairs_and_a_validation_set_in_the_same_forms():
    imgs, labels = images(24)
    r = ng.train(net(), list(zip(imgs, labels)), max_training_rounds=3, batch_size=8, seed=0,
                 progress=False, results=True, validation_set=list(zip(imgs[:6], labels[:6])))
    assert len(r.validation_losses) == 3 and np.isfinite(r.validation_losses).all()


def test_an_unknown_label_is_a_four_part_error():
    imgs, labels = images(4)
    with pytest.raises(KeyError) as e:
        ng.train(net(), (imgs, labels[:3] + ["brigth"]), max_training_rounds=1, progress=False)
    err = e.value
    assert 'port "Target"' in err.where and "did you mean 'bright'" in err.fix and err.got

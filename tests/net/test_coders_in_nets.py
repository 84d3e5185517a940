"""Encoders and decoders on a net's ports: images in, labels out, gradients of the encoded image."""

import numpy as np
import pytest
import torch

from netgrad import (ConvolutionLayer, ElementwiseLayer, FlattenLayer, LinearLayer, NetChain,
                     NetGraph, NetInitialize, NetKeyError, NetPortGradient, PoolingLayer,
                     ShapeError, SoftmaxLayer)
from netgrad.encoders import NetDecoder, NetEncoder
from netgrad.encoders._attach import encode_ports, training_coders
from netgrad.demo import sample_image

LABELS = ["circle", "square", "triangle"]


def classifier(**kw):
    return NetInitialize(NetChain(
        [ConvolutionLayer(4, 3), "Ramp", PoolingLayer(2, 2), FlattenLayer(), LinearLayer(3),
         SoftmaxLayer()], input=NetEncoder("Image", size=(12, 12), **kw),
        output=NetDecoder("Class", LABELS)), seed=0)


def raw_probabilities(net, encoded):
    with torch.no_grad():
        return net.forward(torch.as_tensor(encoded)[None])[0].numpy()


def test_images_in_labels_out():
    net = classifier()
    img = sample_image(20)
    encoded = net.encoders()["Input"](img)
    p = raw_probabilities(net, encoded)
    assert net(img) == LABELS[int(np.argmax(p))]
    assert net([img, img]) == [LABELS[int(np.argmax(p))]] * 2
    probs = net(img, "Probabilities")
    assert list(probs) == LABELS
    np.testing.assert_allclose(list(probs.values()), p, rtol=1e-5)
    top = net(img, ("TopProbabilities", 2))
    assert [lab for lab, _ in top] == [LABELS[i] for i in np.argsort(-p)[:2]]
    assert net(img, "Entropy") == pytest.approx(float(-(p * np.log(p)).sum()), rel=1e-5)
    both = net([img, img], "Probabilities")
    assert len(both) == 2 and both[0] == pytest.approx(probs)


def test_gradient_has_the_encoded_shape_and_tensors_bypass_the_encoder():
    net = classifier(mean=0.5, variance=0.25)
    img = sample_image(20)
    g = net(img, NetPortGradient("Input"))
    assert g.shape == (3, 12, 12) and np.isfinite(g).all() and np.abs(g).max() > 0
    encoded = torch.as_tensor(net.encoders()["Input"](img))
    g2 = net(encoded, NetPortGradient("Input"))
    np.testing.assert_allclose(g, g2.numpy(), rtol=1e-6)
    both = net(img, ["Output", NetPortGradient("Input")])
    assert both["Output"] in LABELS and both[NetPortGradient("Input")].shape == (3, 12, 12)


def test_errors_name_the_port_and_the_fix():
    net = classifier()
    with pytest.raises(ValueError) as e:
        net(np.zeros((5, 5, 2)))
    assert 'port "Input"' in e.value.where and e.value.fix
    with pytest.raises(NetKeyError, match="did you mean 'Probabilities'"):
        net(sample_image(12), "Probabilites")
    plain = NetChain([LinearLayer(2)], input=3)
    with pytest.raises(NetKeyError, match="no output port 'Probabilities'"):
        NetInitialize(plain)([1.0, 2.0, 3.0], "Probabilities")
    with pytest.raises(ShapeError, match="3 labels") as e:
        NetChain([LinearLayer(4), SoftmaxLayer()], input=2, output=NetDecoder("Class", LABELS))
    assert e.value.fix
    with pytest.raises(NetKeyError, match="input port"):
        NetGraph({"a": LinearLayer(2)}, Output=NetEncoder("Scalar"), Input=3)
    with pytest.raises(ShapeError, match="image decoder"):
        NetChain([LinearLayer(4)], input=2, output=NetDecoder("Image"))


def test_outer_nets_take_over_the_coders_of_their_vertices():
    inner = classifier()
    outer = NetChain({"net": inner, "log": ElementwiseLayer("Log")})
    assert outer.encoders() == inner.encoders() and outer.decoders() == {}
    graph = NetGraph({"net": inner})
    assert graph.decoders() == inner.decoders() and graph(sample_image(12)) in LABELS
    with pytest.raises(ValueError, match="different encoders") as e:
        NetGraph({"a": NetChain([ElementwiseLayer("Tanh")], input=NetEncoder("Scalar")),
                  "b": NetChain([ElementwiseLayer("Tanh")], input=NetEncoder("Boolean"))})
    assert e.value.fix


def test_summary_and_html_show_the_coders():
    net = classifier()
    text = repr(net)
    assert 'port Input: NetEncoder("Image", size=(12, 12), color_space="RGB")' in text
    assert 'port Output: NetDecoder("Class", labels=["circle", "square", "triangle"])' in text
    page = net._repr_html_()
    assert page.count("<tr>") == 1 + 2 + 6          # header, two coder rows, six layers
    assert "NetEncoder(&quot;Image&quot;" in page and "ConvolutionLayer" in page


def test_scalar_and_class_encoders_on_a_graph():
    net = NetInitialize(NetGraph({"lin": LinearLayer(1), "act": ElementwiseLayer("LogisticSigmoid")},
                                 [("lin", "act")], Input=NetEncoder("Class", ["a", "b"], output="UnitVector"),
                                 Output=NetDecoder("Boolean")), seed=0)
    p = net(["a", "b"], ("Probability"))
    assert len(p) == 2 and all(0 < v < 1 for v in p)
    assert net("a") == (p[0] > 0.5)


def test_training_hook_encodes_inputs_and_maps_labels_through_the_decoder():
    net = classifier()
    coders = training_coders(net, {"Target": "Output"})
    assert set(coders) == {"Input", "Target"}
    img = sample_image(12)
    ports = encode_ports(coders, {"Input": [img, img], "Target": ["square", "circle"]}, batch=True)
    assert ports["Input"].shape == (2, 3, 12, 12)
    assert ports["Target"].tolist() == [1, 0] and ports["Target"].dtype == np.int64
    one = encode_ports(coders, {"Input": img, "Target": "triangle"}, batch=False)
    assert one["Input"].shape == (3, 12, 12) and one["Target"].tolist() == 2
    t = torch.zeros(2, 3, 12, 12)
    assert encode_ports(coders, {"Input": t}, batch=True)["Input"] is t
    with pytest.raises(NetKeyError, match='port "Target"') as e:
        encode_ports(coders, {"Target": ["sqare"]}, batch=True)
    assert "did you mean 'square'" in e.value.fix


def test_the_evaluation_record_holds_the_coders():
    from netgrad import check_gradients
    from netgrad.net._record import build_record
    net = classifier()
    img = sample_image(12)
    record = build_record(net, [img, img], "Probabilities")
    assert record.coders is not None and record.batch
    assert tuple(record.tensors["Input"].shape) == (2, 3, 12, 12)
    assert record.request.items == ["Output"]          # the property reads the decoded port
    assert build_record(net, img).coders.decode(np.array([0.1, 0.2, 0.7])) == "triangle"
    assert check_gradients(net, img).ok                  # finite differences on the encoded image


def test_texts_of_different_lengths_are_a_batch_of_sequences():
    from netgrad import AggregationLayer, EmbeddingLayer
    net = NetInitialize(NetChain(
        [EmbeddingLayer(4, 5), AggregationLayer("Mean", 1), LinearLayer(2), SoftmaxLayer()],
        input=NetEncoder("Tokens", ["a", "b", "c"]), output=NetDecoder("Class", ["neg", "pos"])),
        seed=0)
    assert net.port_shape("Input") == ("Varying",)
    texts = ["a b", "c c c x", "b"]
    batch = net(texts, "Probabilities")
    for text, probs in zip(texts, batch):        # padding changes nothing
        assert probs == pytest.approx(net(text, "Probabilities"), rel=1e-6)
    # (the outputs sum to 1, so impose a gradient: d p_neg / d Weights)
    g = net({"Input": texts, NetPortGradient("Output"): [[1.0, 0.0]] * 3},
            NetPortGradient(("0", "Weights")))
    assert g.shape == (5, 4) and g[3].any() and not g[4].any()   # "x" is unknown: index 3

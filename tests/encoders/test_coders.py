"""Class, Scalar, Boolean, Characters, Tokens and Function encoders; Class, Scalar and Boolean
decoders."""

import math

import numpy as np
import pytest

from netgrad import NetgradError, NetKeyError, NetTypeError, NetValueError, ShapeError
from netgrad.encoders import DECODER_TYPES, ENCODER_TYPES, NetDecoder, NetEncoder
from netgrad.encoders._text import PRINTABLE


def four_parts(e):
    assert e.where and e.rule and e.got and e.fix, str(e)


def test_kinds_are_registered():
    assert set(ENCODER_TYPES) == {"Image", "Scalar", "Boolean", "Class", "Characters", "Tokens",
                                  "Function"}
    assert set(DECODER_TYPES) == {"Class", "Image", "Scalar", "Boolean"}


def test_class_encoder():
    enc = NetEncoder("Class", ["cat", "dog", "eel"])
    assert enc.shape == () and enc.integer
    assert enc("eel").tolist() == 2 and enc("eel").dtype == np.int64
    assert enc(["dog", "cat"]).tolist() == [1, 0]
    assert enc(np.array(["dog"])).tolist() == [1]
    one_hot = NetEncoder("Class", ["cat", "dog", "eel"], output="UnitVector")
    assert one_hot.shape == (3,) and not one_hot.integer
    np.testing.assert_array_equal(one_hot("dog"), [0, 1, 0])
    with pytest.raises(NetKeyError, match="did you mean 'dog'") as e:
        enc("dgo")
    four_parts(e.value)
    digits = NetEncoder("Class", list(range(10)))
    assert digits(np.int64(7)).tolist() == 7 and digits(3.0).tolist() == 3
    with pytest.raises(NetValueError, match="distinct"):
        NetEncoder("Class", ["a", "a"])
    with pytest.raises(NetTypeError):
        NetEncoder("Class", "abc")
    assert NetEncoder("Class", [True, 1]).index(1) == 1    # True and 1 are different labels


def test_class_decoder_properties():
    dec = NetDecoder("Class", ["cat", "dog", "eel"])
    p = np.array([0.2, 0.7, 0.1])
    assert dec(p) == "dog"
    probs = dec(p, "Probabilities")
    assert probs == pytest.approx({"cat": 0.2, "dog": 0.7, "eel": 0.1})
    assert dec(p, ("TopProbabilities", 2)) == [("dog", pytest.approx(0.7)), ("cat", pytest.approx(0.2))]
    assert dec(p, "TopDecisions") == ["dog", "cat", "eel"]
    assert dec(p, ("Probability", "eel")) == pytest.approx(0.1)
    assert dec(p, "Entropy") == pytest.approx(-sum(q * math.log(q) for q in p))
    assert dec(np.array([0.0, 1.0, 0.0]), "Entropy") == 0.0            # 0 log 0 = 0
    assert dec(np.stack([p, p[::-1]])) == ["dog", "dog"]
    assert dec(np.stack([p, [0.6, 0.3, 0.1]])) == ["dog", "cat"]
    assert dec(np.array([3.0, -1.0, 0.0])) == "cat"   # decisions need no probabilities
    with pytest.raises(NetValueError, match="SoftmaxLayer") as e:
        dec(np.array([3.0, -1.0, 0.0]), "Probabilities")
    four_parts(e.value)
    with pytest.raises(NetKeyError, match="did you mean 'Probabilities'") as e:
        dec(p, "Probabilites")
    four_parts(e.value)
    with pytest.raises(NetValueError, match="no argument"):
        dec(p, ("Entropy", 2))
    with pytest.raises(ShapeError) as e:
        dec(np.array([0.5, 0.5]))
    four_parts(e.value)


def test_scalar_and_boolean():
    s = NetEncoder("Scalar")
    assert s(2).tolist() == 2.0 and s(2).shape == () and s([1, 2.5]).tolist() == [1.0, 2.5]
    with pytest.raises(NetTypeError, match="Boolean") as e:
        s(True)
    four_parts(e.value)
    b = NetEncoder("Boolean")
    assert b(True).tolist() == 1.0 and b([False, True]).tolist() == [0.0, 1.0]
    with pytest.raises(NetTypeError) as e:
        b(1)
    four_parts(e.value)
    bd = NetDecoder("Boolean")
    assert bd(0.7) is True and bd(np.array([0.2])) is False
    assert bd(np.array([0.2, 0.9])) == [False, True]
    assert bd(0.25, "Probability") == 0.25
    assert bd(0.25, "Entropy") == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    with pytest.raises(NetValueError, match="LogisticSigmoid"):
        bd(1.5, "Probability")
    sd = NetDecoder("Scalar")
    assert sd(np.array(2.5)) == 2.5 and sd(np.array([[1.0], [2.0]])) == [1.0, 2.0]


def test_characters():
    enc = NetEncoder("Characters", "abc ")
    assert enc("ab c").tolist() == [0, 1, 3, 2] and enc.shape == ("Varying",) and enc.integer
    with pytest.raises(NetKeyError, match="'d' at position 1") as e:
        enc("ad")
    four_parts(e.value)
    with pytest.raises(NetKeyError, match="ignore_case=True"):
        enc("A")
    padded = NetEncoder("Characters", "abc", length=4, ignore_case=True)
    assert padded("CAb").tolist() == [2, 0, 1, 3] and padded("abcabc").tolist() == [0, 1, 2, 0]
    assert padded(["a", "bb"]).tolist() == [[0, 3, 3, 3], [1, 1, 3, 3]]
    assert padded.classes == 4 and padded.shape == (4,)
    default = NetEncoder("Characters")
    assert default.characters == PRINTABLE and default("~ ").tolist() == [94, 0]
    ragged = enc(["ab", "abc"])       # a batch of sequences of different lengths: a list
    assert [a.tolist() for a in ragged] == [[0, 1], [0, 1, 2]]
    assert enc(["ab", "ba"]).tolist() == [[0, 1], [1, 0]]   # equal lengths: one array
    with pytest.raises(NetKeyError, match="example 1"):
        enc(["ab", "ad"])


def test_tokens():
    enc = NetEncoder("Tokens", ["the", "cat", "sat", "."])
    assert enc("the cat sat.").tolist() == [0, 1, 2, 3]
    assert enc("the dog sat").tolist() == [0, 4, 2]       # unknown token → len(tokens)
    strict = NetEncoder("Tokens", ["the", "cat"], unknown=False, ignore_case=True)
    assert strict("The CAT").tolist() == [0, 1]
    with pytest.raises(NetKeyError, match="did you mean 'cat'") as e:
        strict("the cats")
    four_parts(e.value)
    padded = NetEncoder("Tokens", ["a", "b"], length=3)
    assert padded("b a x a").tolist() == [1, 0, 2] and padded("a").tolist() == [0, 3, 3]
    assert padded.classes == 4
    with pytest.raises(NetTypeError) as e:
        enc(3)
    assert e.value.got


def test_function_encoder():
    enc = NetEncoder("Function", lambda s: [len(s), s.count("a")], shape=2)
    np.testing.assert_array_equal(enc("banana"), [6, 3])
    assert enc(["a", "bb"]).shape == (2, 2)
    with pytest.raises(ShapeError, match="vector of length 2") as e:
        NetEncoder("Function", lambda s: [1, 2, 3], shape=2)("x")
    four_parts(e.value)
    with pytest.raises(NetTypeError, match="returns numbers"):
        NetEncoder("Function", lambda s: {"a": 1})("x")
    with pytest.raises(NetTypeError):
        NetEncoder("Function", 3)


def test_configs_rebuild_equal_coders():
    coders = [NetEncoder("Image", size=(4, 3), color_space="Grayscale", mean=0.5, variance=2.0),
              NetEncoder("Class", ["a", 1, 2.5, False], output="UnitVector"),
              NetEncoder("Scalar"), NetEncoder("Boolean"),
              NetEncoder("Characters", "xyz", ignore_case=True, length=3),
              NetEncoder("Tokens", ["a", "b"], unknown=False, length=2)]
    for c in coders:
        again = NetEncoder(c.kind, **c.get_config())
        assert again == c and hash(again) == hash(c) and repr(again) == repr(c)
    for d in [NetDecoder("Class", ["x", "y"]), NetDecoder("Image", "RGB", mean=[0.1, 0.2, 0.3]),
              NetDecoder("Scalar"), NetDecoder("Boolean")]:
        assert NetDecoder(d.kind, **d.get_config()) == d
    assert repr(NetEncoder("Image", size=8)) == 'NetEncoder("Image", size=(8, 8), color_space="RGB")'
    with pytest.raises(NetgradError, match="no kind"):
        NetDecoder("Probabilities")

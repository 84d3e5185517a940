"""The image encoder against Pillow, NumPy and torch references; bad images give 4-part errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from netgrad import NetgradError, NetTypeError, NetValueError, ShapeError
from netgrad.encoders import NetDecoder, NetEncoder

RNG = np.random.default_rng(0)


def four_parts(e: NetgradError) -> None:
    assert e.where and e.rule and e.got and e.fix, str(e)


def rgb_image(w=12, h=9, seed=1):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_pil_image_without_resizing_is_exactly_its_pixels():
    img = rgb_image()
    a = NetEncoder("Image", size=(12, 9))(img)
    assert a.shape == (3, 9, 12) and a.dtype == np.float32
    np.testing.assert_array_equal(a, (np.asarray(img).transpose(2, 0, 1) / 255.0).astype(np.float32))


@pytest.mark.parametrize("size", [(12, 10), (40, 50), (31, 23), (5, 7)])
def test_resizing_matches_torch_antialiased_bilinear(size):
    # PIL's bilinear filter (antialiased when shrinking) is what torch's antialias=True mirrors
    a = RNG.random((23, 31, 3))
    out = NetEncoder("Image", size=size)(a)
    ref = torch.nn.functional.interpolate(torch.tensor(a.transpose(2, 0, 1))[None],
                                          size=(size[1], size[0]), mode="bilinear",
                                          antialias=True, align_corners=False)[0].numpy()
    assert out.shape == (3, size[1], size[0])
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_resizing_a_pil_image_matches_pil_resize_to_8_bits():
    img = rgb_image(30, 20)
    out = NetEncoder("Image", size=(14, 11))(img)
    ref = np.asarray(img.resize((14, 11), Image.Resampling.BILINEAR)).transpose(2, 0, 1) / 255
    # PIL's 8-bit path uses fixed-point weights and rounds its result; ours resamples in float
    # (checked against torch to 1e-6 above), so the two agree to one 8-bit level
    assert np.abs(out - ref).max() <= 1 / 255


def test_rgb_to_grayscale_is_pillows_luma():
    img = rgb_image()
    out = NetEncoder("Image", size=(12, 9), color_space="Grayscale")(img)
    assert out.shape == (1, 9, 12)
    ref = np.asarray(img.convert("L")) / 255.0
    assert np.abs(out[0] - ref).max() <= 0.5 / 255 + 1e-6  # PIL rounds L to 8 bits
    a = np.asarray(img) / 255.0
    exact = a @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(NetEncoder("Image", size=(12, 9), color_space="Grayscale")(a)[0],
                               exact, atol=1e-6)


def test_gray_to_rgb_copies_and_alpha_is_dropped():
    gray = RNG.random((6, 5))
    out = NetEncoder("Image", size=(5, 6))(gray)
    np.testing.assert_allclose(out, np.stack([gray] * 3), atol=1e-7)
    rgba = np.dstack([RNG.random((6, 5, 3)), np.zeros((6, 5))])
    np.testing.assert_allclose(NetEncoder("Image", size=(5, 6))(rgba),
                               rgba[:, :, :3].transpose(2, 0, 1), atol=1e-7)
    pil_rgba = Image.fromarray((rgba * 255).astype(np.uint8), "RGBA")
    np.testing.assert_array_equal(NetEncoder("Image", size=(5, 6))(pil_rgba),
                                  NetEncoder("Image", size=(5, 6))(pil_rgba.convert("RGB")))


def test_normalization_per_channel_and_its_inverse():
    a = RNG.random((4, 4, 3))
    enc = NetEncoder("Image", size=4, mean=[0.1, 0.2, 0.3], variance=[0.25, 1.0, 4.0])
    out = enc(a)
    ref = (a.transpose(2, 0, 1) - np.array([0.1, 0.2, 0.3])[:, None, None]) / \
        np.array([0.5, 1.0, 2.0])[:, None, None]
    np.testing.assert_allclose(out, ref, atol=1e-6)
    np.testing.assert_allclose(enc.denormalize(out), a.transpose(2, 0, 1), atol=1e-6)


def test_dtypes_and_modes():
    enc = NetEncoder("Image", size=(3, 2), color_space="Grayscale")
    u16 = np.array([[0, 65535, 32768], [1, 2, 3]], dtype=np.uint16)
    np.testing.assert_allclose(enc(u16)[0], u16 / 65535.0, atol=1e-7)
    np.testing.assert_allclose(enc(Image.fromarray(u16))[0], u16 / 65535.0, atol=1e-7)
    ints = np.array([[0, 255, 128], [1, 2, 3]], dtype=np.int64)
    np.testing.assert_allclose(enc(ints)[0], ints / 255.0, atol=1e-7)
    np.testing.assert_array_equal(enc(np.eye(2, 3, dtype=bool))[0], np.eye(2, 3))
    pal = rgb_image(3, 2).convert("P")
    np.testing.assert_array_equal(NetEncoder("Image", size=(3, 2))(pal),
                                  NetEncoder("Image", size=(3, 2))(pal.convert("RGB")))


def test_file_paths_and_batches(tmp_path):
    img = rgb_image()
    path = tmp_path / "x.png"
    img.save(path)
    enc = NetEncoder("Image", size=(6, 6))
    one = enc(img)
    np.testing.assert_array_equal(enc(str(path)), one)
    np.testing.assert_array_equal(enc(path), one)
    batch = enc([img, str(path), np.asarray(img)])
    assert batch.shape == (3, 3, 6, 6)
    for b in batch:
        np.testing.assert_array_equal(b, one)
    stacked = enc(np.stack([np.asarray(img)] * 2))
    assert stacked.shape == (2, 3, 6, 6)
    assert enc.encode(img)[1] is False and enc.encode([img])[1] is True


def test_wrong_mode_is_a_four_part_error():
    enc = NetEncoder("Image", size=4)
    with pytest.raises(NetValueError, match="mode 'I'") as e:
        enc(Image.fromarray(np.zeros((4, 4), dtype=np.int32)))
    four_parts(e.value)
    with pytest.raises(NetValueError, match="1 \\(gray\\), 3 \\(RGB\\) or 4") as e:
        enc(np.zeros((4, 4, 2)))
    four_parts(e.value)
    assert "transpose" in e.value.fix
    with pytest.raises(NetTypeError) as e:
        enc(np.zeros((4, 4), dtype=complex))
    four_parts(e.value)
    with pytest.raises(NetValueError, match="0…255") as e:
        enc(np.full((4, 4), 300))
    four_parts(e.value)
    with pytest.raises(NetValueError, match="finite") as e:
        enc(np.full((4, 4), np.nan))
    four_parts(e.value)
    with pytest.raises(NetTypeError, match="PIL image") as e:
        enc({"not": "an image"})
    four_parts(e.value)


def test_corrupt_and_truncated_files_are_four_part_errors(tmp_path):
    enc = NetEncoder("Image", size=4)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG this is not really a png" * 4)
    with pytest.raises(NetValueError, match="junk.png") as e:
        enc(str(junk))
    four_parts(e.value)
    assert "corrupted" in e.value.fix
    buf = io.BytesIO()
    rgb_image(40, 40).save(buf, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(NetValueError, match="cut.png") as e:
        enc(str(cut))
    four_parts(e.value)
    with pytest.raises(NetValueError, match="does not exist") as e:
        enc(str(tmp_path / "missing.png"))
    four_parts(e.value)
    with pytest.raises(NetValueError, match="example 1") as e:   # which example of a batch
        enc([rgb_image(), str(junk)])
    four_parts(e.value)


def test_wrong_size_where_the_size_is_fixed():
    enc = NetEncoder("Image", size=(12, 9), resize=False)
    assert enc(rgb_image(12, 9)).shape == (3, 9, 12)
    with pytest.raises(ShapeError, match="12×9") as e:
        enc(rgb_image(10, 9))
    four_parts(e.value)


def test_bad_options():
    for kwargs in ({"size": (0, 3)}, {"size": "big"}, {"size": 4, "color_space": "rgb"},
                   {"size": 4, "mean": [0.1, 0.2]}, {"size": 4, "variance": -1},
                   {"size": 4, "resampling": "cubic"}):
        with pytest.raises(NetgradError) as e:
            NetEncoder("Image", **kwargs)
        assert e.value.rule and e.value.got
    with pytest.raises(NetgradError, match="did you mean 'RGB'"):
        NetEncoder("Image", size=4, color_space="rgb")
    with pytest.raises(KeyError, match="did you mean 'Image'"):
        NetEncoder("image", size=4)


def test_image_decoder_round_trip():
    img = rgb_image()
    enc = NetEncoder("Image", size=(12, 9), mean=0.5, variance=0.09)
    dec = NetDecoder("Image", color_space="RGB", mean=0.5, variance=0.09)
    back = dec(enc(img))
    assert back.mode == "RGB" and back.size == (12, 9)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(img))
    gray = NetDecoder("Image")(np.full((1, 2, 3), 2.0))   # clipped
    assert gray.mode == "L" and np.asarray(gray).max() == 255
    assert len(dec(np.stack([enc(img)] * 2))) == 2
    with pytest.raises(ShapeError) as e:
        NetDecoder("Image", color_space="Grayscale")(np.zeros((3, 2, 2)))
    four_parts(e.value)

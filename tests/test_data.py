"""gradsign_fast.data: the seeded synthetic batch and the CIFAR pickle / npz loaders."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from gradsign_fast.data import CIFAR_MEAN, CIFAR_STD, load_images, synthetic_batch
from shared_data import shared_file


def _expected(pixels_nhwc: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(pixels_nhwc).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def _pixels(n=6, h=32, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- synthetic
def test_synthetic_batch_is_reproducible_and_cifar_like():
    state = torch.get_rng_state()
    x, y = synthetic_batch(16, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    x2, y2 = synthetic_batch(16, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, synthetic_batch(16, seed=4)[0])
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64 and 0 <= y.min() and y.max() < 10
    low = (0 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD)  # pixel 0 and 1, normalized
    high = (1 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD)
    per_channel = x.transpose(0, 1).reshape(3, -1)
    assert (per_channel.min(1).values >= low - 1e-6).all() and (per_channel.max(1).values <= high + 1e-6).all()


def test_synthetic_batch_options():
    x64, y = synthetic_batch(4, seed=1, num_classes=100, shape=(3, 16, 16), dtype=torch.float64)
    assert x64.shape == (4, 3, 16, 16) and x64.dtype == torch.float64 and y.max() < 100
    x32, _ = synthetic_batch(4, seed=1, num_classes=100, shape=(3, 16, 16))
    assert torch.equal(x64.float(), x32)  # dtype only changes the final cast
    assert synthetic_batch(2, shape=(1, 8, 8))[0].shape == (2, 1, 8, 8)
    for bad in (dict(n=0), dict(num_classes=0), dict(shape=(32, 32)), dict(shape=(3, 0, 32))):
        with pytest.raises(ValueError):
            synthetic_batch(**{"n": 2, **bad})


# ---------------------------------------------------------------- npz
def test_npz_uint8_hwc(tmp_path):
    pixels = _pixels(6)
    labels = np.arange(6, dtype=np.int64)
    path = tmp_path / "batch.npz"
    np.savez(path, x=pixels, y=labels)
    x, y = load_images(path, n=4, offset=2)
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    torch.testing.assert_close(x, _expected(pixels[2:6]))
    assert y.tolist() == [2, 3, 4, 5] and y.dtype == torch.int64


def test_npz_uint8_chw_and_flat_and_float(tmp_path):
    pixels = _pixels(3)
    chw = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
    np.savez(tmp_path / "chw.npz", x=chw, y=np.array([1, 2, 3]))
    np.savez(tmp_path / "flat.npz", x=chw.reshape(3, -1), y=np.array([1, 2, 3], dtype=np.int32))
    for name in ("chw.npz", "flat.npz"):
        x, y = load_images(tmp_path / name, n=3)
        torch.testing.assert_close(x, _expected(pixels))
        assert y.dtype == torch.int64
    normalized = np.random.default_rng(0).standard_normal((3, 3, 8, 8))
    np.savez(tmp_path / "float.npz", x=normalized, y=np.zeros(3, dtype=np.int64))
    x, _ = load_images(tmp_path / "float.npz", n=2)
    torch.testing.assert_close(x, torch.from_numpy(normalized[:2]).float())  # taken as already normalized


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "no_y.npz", x=_pixels(2))
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['y'\]"):
        load_images(tmp_path / "no_y.npz", n=1)
    np.savez(tmp_path / "few.npz", x=_pixels(3), y=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="holds 3 images"):
        load_images(tmp_path / "few.npz", n=4)
    with pytest.raises(ValueError, match="holds 3 images"):
        load_images(tmp_path / "few.npz", n=2, offset=2)
    np.savez(tmp_path / "mismatch.npz", x=_pixels(3), y=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_images(tmp_path / "mismatch.npz", n=1)
    np.savez(tmp_path / "float_hwc.npz", x=np.zeros((2, 32, 32, 3), np.float32), y=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        load_images(tmp_path / "float_hwc.npz", n=1)
    with pytest.raises(ValueError, match="n must be"):
        load_images(tmp_path / "few.npz", n=0)


# ---------------------------------------------------------------- CIFAR python pickles
@pytest.mark.parametrize("label_key", [b"labels", b"fine_labels"])
def test_cifar_pickle(tmp_path, label_key):
    pixels = _pixels(5)
    data = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)).reshape(5, 3072)  # CIFAR: channel-major rows
    path = tmp_path / "data_batch_1"
    with path.open("wb") as fh:
        pickle.dump({b"batch_label": b"test", b"data": data, label_key: [4, 3, 2, 1, 0]}, fh)
    x, y = load_images(path, n=5)
    torch.testing.assert_close(x, _expected(pixels))
    assert y.tolist() == [4, 3, 2, 1, 0]


def test_pickle_and_path_errors(tmp_path):
    path = tmp_path / "test_batch"
    with path.open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"coarse_labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match="b'labels' or b'fine_labels'"):
        load_images(path, n=1)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="neither a .npz nor a CIFAR python batch"):
        load_images(garbage, n=1)
    with pytest.raises(FileNotFoundError, match="no image file"):
        load_images(tmp_path / "missing.npz", n=1)
    with pytest.raises(IsADirectoryError, match="pass one file"):
        load_images(tmp_path, n=1)


def test_shared_cifar_npz():
    path = shared_file("cifar/cifar10_test_first1000_convnetjs.npz")
    x, y = load_images(path, n=64)
    assert x.shape == (64, 3, 32, 32) and y.shape == (64,) and int(y.max()) < 10
    assert abs(float(x.mean())) < 0.5 and 0.5 < float(x.std()) < 1.5  # roughly normalized

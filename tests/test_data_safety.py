"""load_images never runs code from a data file: restricted CIFAR unpickling, npz sniffed by content.

A file passed as --data is untrusted input. CIFAR python batches are read with a restricted
unpickler (numpy arrays, dicts, lists, bytes, str, ints only); .npz is recognised by its zip magic,
not its suffix, and read with allow_pickle=False; corrupt archives give a ValueError naming the file.
"""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from gradsign_fast.data import CIFAR_MEAN, CIFAR_STD, load_images

MALICIOUS_NAMES = ("test_batch", "images.NPZ", "images.npz.bak", "x.npz")


def _pixels(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _expected(pixels_nhwc: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(pixels_nhwc).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def _cifar_batch(pixels: np.ndarray, labels, *, bytes_keys: bool = True) -> dict:
    """A dict laid out like a CIFAR-10 python batch (data: (N, 3072) uint8, channel-major rows)."""
    data = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)).reshape(len(pixels), 3072)
    batch = {"batch_label": b"testing batch 1 of 1", "labels": labels, "data": data,
             "filenames": [f"img_{i}.png".encode() for i in range(len(pixels))]}
    return {k.encode(): v for k, v in batch.items()} if bytes_keys else batch


# ---------------------------------------------------------------- legitimate CIFAR batches
@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar_batches_load_with_every_protocol(tmp_path, protocol, bytes_keys):
    pixels = _pixels()
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_cifar_batch(pixels, [4, 3, 2, 1, 0], bytes_keys=bytes_keys), protocol=protocol))
    x, y = load_images(path, n=4, offset=1)
    torch.testing.assert_close(x, _expected(pixels[1:5]), rtol=0, atol=0)
    assert y.tolist() == [3, 2, 1, 0] and y.dtype == torch.int64


@pytest.mark.parametrize("protocol", [2, 5])
def test_numpy_labels_and_scalars_load(tmp_path, protocol):
    pixels = _pixels(3)
    for labels in (np.array([7, 8, 9], dtype=np.int64), [np.int64(7), np.int32(8), np.uint8(9)]):
        path = tmp_path / "train"
        path.write_bytes(pickle.dumps(_cifar_batch(pixels, labels), protocol=protocol))
        x, y = load_images(path, n=3)
        torch.testing.assert_close(x, _expected(pixels), rtol=0, atol=0)
        assert y.tolist() == [7, 8, 9]


def test_numpy1_names_of_old_cifar_files_load(tmp_path):
    """The real CIFAR files were pickled by numpy 1 as numpy.core.multiarray._reconstruct."""
    pixels = _pixels(2)
    raw = pickle.dumps(_cifar_batch(pixels, [1, 0]), protocol=2)
    assert b"numpy._core.multiarray\n_reconstruct\n" in raw  # GLOBAL opcodes: text, newline-terminated
    path = tmp_path / "test_batch"
    path.write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    x, y = load_images(path, n=2)
    torch.testing.assert_close(x, _expected(pixels), rtol=0, atol=0)
    assert y.tolist() == [1, 0]


# ---------------------------------------------------------------- malicious pickles
class _Payload:
    """Pickles as `func(*args)`: what a crafted data file would run on a plain pickle.load."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    quoted = str(marker).replace("'", "'\\''")
    return {
        "os.system": (_Payload(os.system, f"touch '{quoted}'"), "system"),
        "builtins.eval": (_Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()"), "eval"),
        "subprocess": (_Payload(subprocess.call, [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]),
                       "subprocess"),
        "marker writer": (_Payload(builtins.open, str(marker), "w"), "open"),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess", "marker writer"])
@pytest.mark.parametrize("name", MALICIOUS_NAMES)
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickles_are_refused_and_never_run(tmp_path, kind, name, protocol):
    marker = tmp_path / "PWNED"
    payload, global_name = _payloads(marker)[kind]
    path = tmp_path / name
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(ValueError, match=rf"refuses to load \S*(?: \(Python 3: )?\S*{global_name}") as info:
        load_images(path, n=1)
    assert str(path) in str(info.value) and "only open data you trust" in str(info.value)
    assert not marker.exists(), "the payload ran"


def test_a_payload_hidden_inside_a_valid_batch_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    batch = _cifar_batch(_pixels(2), [0, 1])
    batch[b"batch_label"] = _Payload(builtins.open, str(marker), "w")
    path = tmp_path / "data_batch_2"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"refuses to load \S*\.open"):
        load_images(path, n=1)
    assert not marker.exists()


def test_codecs_encode_admits_only_latin1(tmp_path):
    """Protocol-2 bytes use _codecs.encode(str, 'latin1'); any other codec call is refused."""
    raw = pickle.dumps({b"data": b"\xff\x00"}, protocol=2)
    assert b"_codecs\nencode\n" in raw and b"latin1" in raw
    path = tmp_path / "test_batch"
    path.write_bytes(raw.replace(b"latin1", b"rot_13"))  # same length: the frame stays valid
    with pytest.raises(ValueError, match=r"test_batch.*_codecs\.encode is admitted only as encode\(str, 'latin1'\)"):
        load_images(path, n=1)


def test_numpy_globals_beyond_arrays_are_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(_Payload(np.load, str(tmp_path / "other.npy")), protocol=2))
    with pytest.raises(ValueError, match=r"refuses to load numpy\S*\.load"):
        load_images(path, n=1)


# ---------------------------------------------------------------- .npz by content, not by suffix
@pytest.mark.parametrize("name", ["images.NPZ", "x.bin", "test_batch"])
def test_npz_is_recognised_by_content(tmp_path, name):
    pixels = _pixels(3)
    path = tmp_path / name
    with path.open("wb") as fh:  # np.savez on a path would append .npz
        np.savez(fh, x=pixels, y=np.array([2, 1, 0]))
    x, y = load_images(path, n=3)
    torch.testing.assert_close(x, _expected(pixels), rtol=0, atol=0)
    assert y.tolist() == [2, 1, 0]


def test_a_cifar_pickle_named_npz_is_read_as_a_cifar_batch(tmp_path):
    pixels = _pixels(2)
    path = tmp_path / "x.npz"
    path.write_bytes(pickle.dumps(_cifar_batch(pixels, [5, 6]), protocol=4))
    x, y = load_images(path, n=2)
    torch.testing.assert_close(x, _expected(pixels), rtol=0, atol=0)
    assert y.tolist() == [5, 6]


def test_npz_object_arrays_stay_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(ValueError, match=r"objects\.npz is a corrupt \.npz \(or holds object arrays"):
        load_images(path, n=1)


def _truncated_npz(path):
    with path.open("wb") as fh:
        np.savez(fh, x=_pixels(2), y=np.array([0, 1]))
    path.write_bytes(path.read_bytes()[:300])


def _garbage_with_zip_magic(path):
    path.write_bytes(b"PK\x03\x04" + b"\x13\x37" * 200)


def _zip_without_x_and_y(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "no arrays here")


def _zip_with_a_broken_array(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", b"\x93NUMPY not really an array")
        zf.writestr("y.npy", b"neither")


@pytest.mark.parametrize("make, match", [
    (_truncated_npz, r"is a corrupt \.npz"),
    (_garbage_with_zip_magic, r"is a corrupt \.npz"),
    (_zip_without_x_and_y, r"lacks array\(s\) \['x', 'y'\]"),
    (_zip_with_a_broken_array, r"is a corrupt \.npz"),
])
@pytest.mark.parametrize("name", ["broken.npz", "broken.bin"])
def test_corrupt_npz_names_the_file(tmp_path, make, match, name):
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError, match=match) as info:
        load_images(path, n=1)
    assert str(path) in str(info.value)

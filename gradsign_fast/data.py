"""Input batches for scoring: a seeded synthetic batch, and real images from CIFAR files.

    synthetic_batch(n)          x: (n, 3, 32, 32) float32, CIFAR-normalized random pixels; y: (n,) int64
    load_images(path, n)        the same layout from CIFAR-10/100 python batches or .npz files (never runs code)
    images_from_arrays(x, y)    the same from numpy arrays (uint8 pixels or normalized floats)
    batch_from_loader(loader, n) the first n samples of any torch DataLoader / iterable of (x, y)
    resolve_batch(data, n)      what the CLI and sweeps use: synthetic or a file, plus num_classes

GradSign only needs one mini-batch at initialization; the synthetic batch makes runs reproducible
without a dataset, but it is NOT real data: report scores on it as such.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .safe_pickle import UnsafePickleError, load_cifar_pickle

CIFAR_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)
ZIP_MAGICS: tuple[bytes, ...] = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member; an empty zip


def _normalize(pixels: torch.Tensor, stats: tuple[Sequence[float], Sequence[float]] = (CIFAR_MEAN, CIFAR_STD)
               ) -> torch.Tensor:
    """pixels: (n, C, H, W) in [0, 1] -> (pixels - mean) / std per channel (`stats` = (mean, std) of 3
    channels, CIFAR's by default; for C != 3 every channel uses the channel-averaged mean and std)."""
    C, (mean3, std3) = pixels.shape[1], stats
    if C == 3:
        mean, std = torch.tensor(mean3), torch.tensor(std3)
    else:
        mean, std = torch.full((C,), sum(mean3) / 3), torch.full((C,), sum(std3) / 3)
    return (pixels - mean.to(pixels).view(1, C, 1, 1)) / std.to(pixels).view(1, C, 1, 1)


def synthetic_batch(
    n: int = 64,
    *,
    seed: int = 0,
    num_classes: int = 10,
    shape: tuple[int, ...] = (3, 32, 32),
    dtype: torch.dtype = torch.float32,
    mean: Sequence[float] = CIFAR_MEAN,
    std: Sequence[float] = CIFAR_STD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A reproducible SYNTHETIC batch: x: (n, *shape) dtype, y: (n,) int64 in [0, num_classes).

    Pixels are drawn uniformly in [0, 1] (float64, torch.Generator seeded with `seed`), then
    normalized with mean/std (default CIFAR's), so x has the value range of a normalized batch.
    Same arguments -> bitwise the same tensors, independent of the global RNG (left untouched).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    shape = tuple(shape)
    if len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be (C, H, W) of positive ints, got {shape!r}")
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.rand((n, *shape), generator=gen, dtype=torch.float64)
    y = torch.randint(0, num_classes, (n,), generator=gen, dtype=torch.int64)
    return _normalize(pixels, (tuple(mean), tuple(std))).to(dtype), y


def load_images(path: str | Path, n: int = 64, *, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images offset .. offset+n-1 of a file: x: (n, 3, H, W) float32 normalized, y: (n,) int64.

    The format is told by the file's content, not its name:
    - .npz (any file starting with the zip magic PK\\x03\\x04) with arrays x and y, read with
      allow_pickle=False: x uint8 (N, H, W, 3) (HWC, like shared/data/cifar/*.npz), (N, 3, H, W) or
      (N, 3072), scaled to [0, 1] then CIFAR-normalized; or x float (N, 3, H, W), taken as ALREADY
      normalized and only cast to float32. A corrupt archive raises ValueError naming the file.
    - any other file: a CIFAR-10/100 python batch (data_batch_1, test_batch, train, test), a pickled
      dict with b'data' (N, 3072) uint8 (channel-major RGB 32x32) and b'labels' or b'fine_labels'.
      It is read with a restricted unpickler (gradsign_fast.safe_pickle) that admits only dicts,
      lists, bytes, str, numbers and numpy arrays: a pickle naming any other global (os.system,
      eval, ...) is refused with a ValueError before anything runs.
    """
    path = Path(path)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative int, got {offset!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass one file, e.g. {path / 'test_batch'} or a .npz")
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path} (expected a CIFAR python batch or a .npz with x and y)")
    x, y = _read_npz(path) if _is_zip(path) else _read_pickle(path)
    if len(y) != len(x):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels")
    if offset + n > len(x):
        raise ValueError(f"{path} holds {len(x)} images; images {offset}..{offset + n - 1} were asked for "
                         f"(lower n={n} or offset={offset})")
    return _convert(x[offset:offset + n], y[offset:offset + n], path)


def images_from_arrays(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """numpy images and labels -> x: (N, 3, H, W) float32, y: (N,) int64, with load_images' rules.

    x uint8 (N, H, W, 3), (N, 3, H, W) or (N, 3072): scaled to [0, 1], CIFAR-normalized;
    x float (N, 3, H, W): taken as already normalized. y: N integer labels.
    """
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"numpy input: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("numpy input: no images")
    return _convert(x, y, "numpy input")


def _convert(x: np.ndarray, y: np.ndarray, path: Path | str) -> tuple[torch.Tensor, torch.Tensor]:
    if x.dtype == np.uint8:
        images = _normalize(torch.from_numpy(_to_nchw(x, path)).to(torch.float32) / 255.0)
    elif np.issubdtype(x.dtype, np.floating):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{path}: float images must be (N, 3, H, W) and already normalized, got {x.shape}")
        images = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32)
    else:
        raise ValueError(f"{path}: images must be uint8 pixels or float (normalized), got dtype {x.dtype}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: labels must be integers, got dtype {y.dtype}")
    return images.contiguous(), torch.from_numpy(y.astype(np.int64))


def batch_from_loader(loader: Iterable, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n samples of a DataLoader (or any iterable of (x, y) batches): x: (n, ...), y: (n, ...).

    Batches are concatenated along dim 0 and cut at n; numpy batches are converted with torch.as_tensor
    (no normalization: a loader's transforms already did that). Raises if the loader runs dry first.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    have = 0
    for batch in loader:
        if isinstance(batch, dict):
            batch = (batch.get("x", batch.get("image", batch.get("input"))), batch.get("y", batch.get("label")))
        if not isinstance(batch, (tuple, list)) or len(batch) < 2 or batch[0] is None or batch[1] is None:
            raise ValueError("a loader must yield (inputs, targets) pairs (or dicts with x/image and y/label), "
                             f"got {type(batch).__name__}")
        x, y = torch.as_tensor(batch[0]), torch.as_tensor(batch[1])
        if len(x) != len(y):
            raise ValueError(f"a loader batch has {len(x)} inputs but {len(y)} targets")
        xs.append(x)
        ys.append(y)
        have += len(x)
        if have >= n:
            break
    if have < n:
        raise ValueError(f"the loader yielded only {have} samples, {n} asked for (lower n or drop_last=False)")
    return torch.cat(xs)[:n].contiguous(), torch.cat(ys)[:n].contiguous()


def resolve_batch(
    data: str | Path | None, n: int, *, offset: int = 0, seed: int = 0, num_classes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """(x, y, num_classes, description): the synthetic batch (data None) or images of a file.

    num_classes None: 10 for synthetic data; for a file the smallest of 10, 100 that covers its labels.
    """
    if data is None:
        k = num_classes or 10
        x, y = synthetic_batch(n, seed=seed, num_classes=k)
        return x, y, k, f"{n} SYNTHETIC images (seeded random pixels, seed {seed}; not real data)"
    x, y = load_images(data, n, offset=offset)
    top = int(y.max()) + 1
    k = num_classes or next((c for c in (10, 100) if top <= c), top)
    if top > k:
        raise ValueError(f"labels of {data} reach {top - 1}, but num_classes is {k}")
    return x, y, k, f"{n} real images from {data} (offset {offset}, labels < {k})"


def _to_nchw(x: np.ndarray, path: Path | str) -> np.ndarray:
    """uint8 images (N, H, W, 3), (N, 3, H, W) or (N, 3072) -> (N, 3, H, W)."""
    if x.ndim == 2 and x.shape[1] == 3072:
        return x.reshape(-1, 3, 32, 32)
    if x.ndim == 4 and x.shape[3] == 3:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim == 4 and x.shape[1] == 3:
        return x
    raise ValueError(f"{path}: uint8 images must be (N, H, W, 3), (N, 3, H, W) or (N, 3072), got {x.shape}")


def _is_zip(path: Path) -> bool:
    """Whether `path` starts like a zip archive (every .npz does), whatever its name."""
    with path.open("rb") as fh:
        return fh.read(4) in ZIP_MAGICS


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays x and y of a zip/.npz, allow_pickle=False; a corrupt archive or one without x/y -> ValueError."""
    with path.open("rb") as fh:  # our own handle: np.load leaks the one it opens when the zip is unreadable
        try:
            with np.load(fh, allow_pickle=False) as archive:
                files = list(archive.files)
                arrays = {k: archive[k] for k in ("x", "y") if k in files}
        except (ValueError, zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
            raise ValueError(f"{path} is a corrupt .npz (or holds object arrays, which are never unpickled): "
                             f"{exc}; re-save it with np.savez(path, x=images, y=labels)") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks array(s) {missing}; it has {files} (need x: images, y: labels)")
    return arrays["x"], np.asarray(arrays["y"]).reshape(-1)


def _read_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """b'data' and the labels of a CIFAR python batch, unpickled with the restricted unpickler."""
    try:
        batch = load_cifar_pickle(path)
    except UnsafePickleError:
        raise  # names the file and the refused global
    except Exception as exc:  # garbage makes pickle raise almost anything
        raise ValueError(f"{path} is neither a .npz nor a CIFAR python batch (pickle failed: {exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict (CIFAR python batch), got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    label_key = next((k for k in ("labels", "fine_labels") if k in batch), None)
    if "data" not in batch or label_key is None:
        raise ValueError(f"{path}: a CIFAR batch needs b'data' and b'labels' or b'fine_labels'; "
                         f"it has {sorted(batch)}")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' must be (N, 3072) uint8, got {data.shape} {data.dtype}")
    return data, np.asarray(batch[label_key]).reshape(-1)

"""The dataset an arch is scored for (NAS-Bench-201's three): its classes, input size and inputs.

    DATASETS["ImageNet16-120"]       Dataset(classes=120, size=16, mean, std)
    dataset_batch("cifar100", None, 64, seed=0)   (x: (64, 3, 32, 32), y: (64,), 100, description)

NAS-Bench-201 trains every arch on CIFAR-10 (10 classes, 32x32), CIFAR-100 (100, 32x32) and
ImageNet16-120 (120, 16x16). GradSign needs one batch of that dataset and a head with its classes.
Only CIFAR-10 images (and 20 CIFAR-100 test images) are available here, so the inputs are:

- no data file: a SYNTHETIC batch of the dataset's shape (n, 3, S, S): seeded uniform pixels,
  normalized with the statistics the authors' loaders use (CIFAR's for both CIFARs, ImageNet16's for
  ImageNet16-120), labels uniform in [0, classes).
- a data file: its images, CIFAR-normalized like every file (data.load_images), box-downsampled by a
  2x2 (in general k x k) mean to S x S when larger (CIFAR-10 images as a STAND-IN for ImageNet16-120);
  its labels, which must be < classes.

"cifar10" is the batch data.resolve_batch gives (the only behaviour before this option existed: a
file's classes are then the smallest of 10/100 covering its labels). Every batch's description says
which inputs it holds; sweeps record the dataset in their config.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATASET = "cifar10"


@dataclass(frozen=True)
class Dataset:
    """classes, input size S (S x S images), per-channel normalization mean/std (of [0, 1] pixels)."""

    name: str
    classes: int
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
DATASETS: dict[str, Dataset] = {
    "cifar10": Dataset("cifar10", 10, 32, _CIFAR_MEAN, _CIFAR_STD),
    "cifar100": Dataset("cifar100", 100, 32, _CIFAR_MEAN, _CIFAR_STD),
    "ImageNet16-120": Dataset("ImageNet16-120", 120, 16, tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                              tuple(v / 255 for v in (63.22, 61.26, 65.09))),
}


def get_dataset(name: str) -> Dataset:
    """DATASETS[name]; ValueError naming the choices otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_batch(dataset: str, data: str | None, n: int, *, offset: int = 0, seed: int = 0,
                  num_classes: int | None = None, image_size: int | None = None):
    """(x: (n, 3, S, S) float32, y: (n,) int64, num_classes, description) for `dataset` (module docstring).

    num_classes None: the dataset's classes; another value than those raises (except for cifar10,
    which keeps data.resolve_batch's rules). image_size None: S is the dataset's size; else S =
    image_size (see resize_batch: synthetic pixels are drawn at S x S, a file's images resized).
    """
    if image_size is not None:
        return resize_batch(dataset, data, n, image_size, offset=offset, seed=seed, num_classes=num_classes)
    import torch.nn.functional as F

    from ..data import load_images, resolve_batch, synthetic_batch

    spec = get_dataset(dataset)
    if dataset == DEFAULT_DATASET:
        return resolve_batch(data, n, offset=offset, seed=seed, num_classes=num_classes)
    if num_classes not in (None, spec.classes):
        raise ValueError(f"num_classes {num_classes} contradicts dataset {dataset} ({spec.classes} classes)")
    k, S = spec.classes, spec.size
    if data is None:
        x, y = synthetic_batch(n, seed=seed, num_classes=k, shape=(3, S, S), mean=spec.mean, std=spec.std)
        return x, y, k, (f"{n} SYNTHETIC {S}x{S} images for {dataset} (seeded random pixels, seed {seed}, "
                         f"{dataset} normalization, labels < {k}; not real data)")
    x, y = load_images(data, n, offset=offset)
    H, W = x.shape[-2:]
    if H != W or H < S or H % S:
        raise ValueError(f"{data}: {H}x{W} images cannot be box-downsampled to {dataset}'s {S}x{S}")
    resized = H != S
    if resized:
        x = F.avg_pool2d(x, H // S)
    if int(y.max()) >= k:
        raise ValueError(f"labels of {data} reach {int(y.max())}, but {dataset} has {k} classes")
    how = f", box-downsampled {H}x{W} -> {S}x{S} (a stand-in for {dataset} images)" if resized else ""
    return x.contiguous(), y, k, f"{n} real images from {data} (offset {offset}{how}; {dataset}, labels < {k})"


def resize_batch(dataset: str, data: str | None, n: int, size: int, *, offset: int = 0, seed: int = 0,
                 num_classes: int | None = None):
    """dataset_batch at S x S = size x size for networks that need another input size than the
    dataset's (the NDS ImageNet networks divide the input by 32 and need S >= 33).

    x: (n, 3, size, size). No data: SYNTHETIC pixels drawn at size x size (the dataset's
    normalization). A data file: the dataset's batch (as dataset_batch), then resized bilinearly
    (antialiased when shrinking) to size x size; classes and labels as dataset_batch gives them.
    """
    import torch.nn.functional as F

    from ..data import synthetic_batch

    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 4096:
        raise ValueError(f"image_size must be an int in 1..4096, got {size!r}")
    spec = get_dataset(dataset)
    if data is None:
        k = num_classes or (10 if dataset == DEFAULT_DATASET else spec.classes)
        if dataset != DEFAULT_DATASET and k != spec.classes:
            raise ValueError(f"num_classes {num_classes} contradicts dataset {dataset} ({spec.classes} classes)")
        x, y = synthetic_batch(n, seed=seed, num_classes=k, shape=(3, size, size), mean=spec.mean, std=spec.std)
        return x, y, k, (f"{n} SYNTHETIC {size}x{size} images for {dataset} (seeded random pixels, seed {seed}, "
                         f"{dataset} normalization, labels < {k}; not real data)")
    x, y, k, text = dataset_batch(dataset, data, n, offset=offset, seed=seed, num_classes=num_classes)
    H, W = x.shape[-2:]
    if (H, W) == (size, size):
        return x, y, k, text
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < min(H, W))
    return x.contiguous(), y, k, f"{text}, resized bilinearly {H}x{W} -> {size}x{size}"

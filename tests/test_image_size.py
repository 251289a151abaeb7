"""--image-size S: inputs of another size than the dataset's (the NDS ImageNet networks need S >= 33).

Synthetic pixels are drawn at S x S; a file's images are resized bilinearly; the size is in the config
(and the key) only when given, so every earlier results file keeps its keys.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gradsign_fast.data import load_images
from gradsign_fast.nas.datasets import DATASETS, dataset_batch, resize_batch
from gradsign_fast.nas.sweep_config import SweepConfig
from shared_data import shared_file

pytestmark = pytest.mark.usefixtures("one_thread")

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
NDS_ARCH = ('{"width":16,"depth":5,"genotype":{"normal":[["sep_conv_3x3",0],["none",1],["max_pool_5x5",0],'
            '["skip_connect",2]],"normal_concat":[2,3],"reduce":[["sep_conv_3x3",0],["sep_conv_3x3",1],'
            '["avg_pool_3x3",0],["skip_connect",2]],"reduce_concat":[2,3]}}')


def test_image_size_is_recorded_only_when_given_and_changes_the_key():
    plain = SweepConfig()
    assert "image_size" not in plain.to_dict() and SweepConfig(image_size=None).key(ARCH) == plain.key(ARCH)
    sized = SweepConfig(image_size=64)
    assert sized.to_dict()["image_size"] == 64 and SweepConfig.from_dict(sized.to_dict()) == sized
    assert sized.key(ARCH) != plain.key(ARCH) != SweepConfig(image_size=32).key(ARCH)


@pytest.mark.parametrize("dataset", ["cifar10", "ImageNet16-120"])
def test_synthetic_pixels_are_drawn_at_the_size(dataset):
    x, y, k, text = dataset_batch(dataset, None, 128, seed=5, image_size=40)
    spec = DATASETS[dataset]
    assert x.shape == (128, 3, 40, 40) and k == (10 if dataset == "cifar10" else spec.classes)
    pixels = x.double() * torch.tensor(spec.std).view(1, 3, 1, 1) + torch.tensor(spec.mean).view(1, 3, 1, 1)
    assert -1e-6 < float(pixels.min()) < 0.01 and 0.99 < float(pixels.max()) < 1 + 1e-6  # not smoothed
    assert "SYNTHETIC 40x40" in text and torch.equal(dataset_batch(dataset, None, 128, seed=5, image_size=40)[0], x)
    assert resize_batch(dataset, None, 2, 40, num_classes=None)[0].shape == (2, 3, 40, 40)


def test_file_images_are_resized_bilinearly():
    data = str(shared_file("cifar/cifar10_train_first1000_convnetjs.npz"))
    x, y, k, text = dataset_batch("cifar10", data, 3, offset=1, num_classes=1000, image_size=64)
    full, labels = load_images(data, 3, offset=1)
    assert x.shape == (3, 3, 64, 64) and k == 1000 and torch.equal(y, labels)
    assert torch.equal(x, F.interpolate(full, size=(64, 64), mode="bilinear", align_corners=False))
    assert "resized bilinearly 32x32 -> 64x64" in text
    small, *_ = dataset_batch("cifar10", data, 3, offset=1, image_size=20)
    assert torch.equal(small, F.interpolate(full, size=(20, 20), mode="bilinear", antialias=True))
    same = dataset_batch("cifar10", data, 3, offset=1, image_size=32)
    assert torch.equal(same[0], full) and "resized" not in same[3]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="image_size must be an int in 1..4096, got 0"):
        dataset_batch("cifar10", None, 2, image_size=0)
    with pytest.raises(ValueError, match="num_classes 10 contradicts dataset cifar100"):
        dataset_batch("cifar100", None, 2, num_classes=10, image_size=40)


def test_cli_scores_an_nds_imagenet_network_at_64x64(capsys):
    """Without --image-size the 32x32 batch is too small for the ImageNet network; with 64 it scores."""
    from gradsign_fast.cli import main

    small = ["--space", "nds", "--batch-size", "2", "--threads", "1", "--num-classes", "1000"]
    assert main(["score", NDS_ARCH, *small]) == 1
    assert "H, W >= 33" in capsys.readouterr().err
    assert main(["score", NDS_ARCH, *small, "--image-size", "64", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["config"]["image_size"] == 64 and record["num_classes"] == 1000 and record["score"] > 0
    assert "SYNTHETIC 64x64" in record["batch"]
    assert main(["score", NDS_ARCH, *small, "--image-size", "7"]) == 2
    assert "--image-size" in capsys.readouterr().err

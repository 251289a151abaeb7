"""NB201 --dataset cifar10|cifar100|ImageNet16-120: classes and input size through SweepConfig, the
batch (synthetic of the right shape and normalization, or a file's images box-downsampled), the CLI,
and keys that stay byte-stable for every config that leaves the dataset at cifar10."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradsign_fast.data import load_images, resolve_batch
from gradsign_fast.nas.datasets import DATASETS, dataset_batch
from gradsign_fast.nas.scoring import build_model, load_config_batch, score_arch
from gradsign_fast.nas.sweep_config import SweepConfig
from shared_data import shared_file

pytestmark = pytest.mark.usefixtures("one_thread")

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SMALL = dict(channels=2, cells=1, batch_size=4)


# Keys of configs as the frozen schema computed them before `dataset` existed (the digest of the
# arch and the fields then known). They must never change: results files are resumed by them.
FROZEN_KEYS = [
    ({}, "fe807ec948ffa0bb"),
    ({"channels": 4, "cells": 1, "batch_size": 8}, "8b34157be18ae6ad"),
    ({"space": "m:f"}, "5336124f455c7196"),
    ({"num_classes": 100, "seed": 3, "dtype": "float64"}, "30f9e67a53bc04a2"),
]


@pytest.mark.parametrize("fields, digest", FROZEN_KEYS)
def test_keys_of_cifar10_configs_are_the_frozen_ones(fields, digest):
    assert SweepConfig(**fields).key(ARCH) == f"{ARCH}#{digest}"
    assert SweepConfig(**fields, dataset="cifar10").key(ARCH) == f"{ARCH}#{digest}"


def test_dataset_is_recorded_only_when_not_cifar10_and_changes_the_key():
    default = SweepConfig(**SMALL)
    assert "dataset" not in default.to_dict() and SweepConfig.from_dict(default.to_dict()) == default
    keys = {SweepConfig(**SMALL, dataset=d).key(ARCH) for d in DATASETS}
    assert len(keys) == 3
    c100 = SweepConfig(**SMALL, dataset="cifar100")
    assert c100.to_dict()["dataset"] == "cifar100" and SweepConfig.from_dict(c100.to_dict()) == c100
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        SweepConfig(dataset="imagenet")
    with pytest.raises(ValueError, match="num_classes 10 contradicts dataset cifar100"):
        SweepConfig(dataset="cifar100", num_classes=10)
    assert SweepConfig(dataset="ImageNet16-120", num_classes=120).num_classes == 120


@pytest.mark.parametrize("dataset, classes, size", [("cifar100", 100, 32), ("ImageNet16-120", 120, 16)])
def test_synthetic_batch_has_the_dataset_shape_classes_and_normalization(dataset, classes, size):
    x, y, k, text = dataset_batch(dataset, None, 256, seed=3)
    assert x.shape == (256, 3, size, size) and x.dtype == torch.float32 and k == classes
    assert y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < classes and int(y.max()) > 10
    spec = DATASETS[dataset]
    pixels = x.double() * torch.tensor(spec.std).view(1, 3, 1, 1) + torch.tensor(spec.mean).view(1, 3, 1, 1)
    assert -1e-6 < float(pixels.min()) < 0.01 and 0.99 < float(pixels.max()) < 1 + 1e-6  # uniform [0, 1] pixels
    assert "SYNTHETIC" in text and f"{size}x{size}" in text and dataset in text
    again = dataset_batch(dataset, None, 256, seed=3)
    assert torch.equal(again[0], x) and torch.equal(again[1], y)


def test_cifar10_is_the_batch_it_always_was():
    data = shared_file("cifar/cifar10_train_first1000_convnetjs.npz")
    for source in (None, str(data)):
        a, b = dataset_batch("cifar10", source, 8, seed=1), resolve_batch(source, 8, seed=1)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2:] == b[2:]


def test_imagenet16_from_a_cifar_file_is_its_images_box_downsampled():
    data = shared_file("cifar/cifar10_train_first1000_convnetjs.npz")
    x, y, k, text = dataset_batch("ImageNet16-120", str(data), 6, offset=2)
    full, labels = load_images(data, 6, offset=2)
    assert x.shape == (6, 3, 16, 16) and k == 120 and torch.equal(y, labels)
    assert torch.equal(x, F.avg_pool2d(full, 2))  # mean of each 2x2 block of the normalized image
    assert "box-downsampled 32x32 -> 16x16" in text and "stand-in" in text


def test_cifar100_from_its_20_shared_test_images():
    data = shared_file("cifar/foolbox_cifar100_first20_test.npz")
    x, y, k, text = dataset_batch("cifar100", str(data), 20)
    assert x.shape == (20, 3, 32, 32) and k == 100 and int(y.max()) >= 10
    with pytest.raises(ValueError, match="holds 20 images"):
        dataset_batch("cifar100", str(data), 21)


def test_file_labels_and_sizes_that_do_not_fit(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, x=np.zeros((2, 24, 24, 3), np.uint8), y=np.array([0, 1]))
    with pytest.raises(ValueError, match="24x24 images cannot be box-downsampled to ImageNet16-120's 16x16"):
        dataset_batch("ImageNet16-120", str(path), 2)
    np.savez(path, x=np.zeros((2, 32, 32, 3), np.uint8), y=np.array([0, 150]))
    with pytest.raises(ValueError, match="reach 150, but cifar100 has 100 classes"):
        dataset_batch("cifar100", str(path), 2)


def test_scoring_builds_the_head_and_batch_of_the_dataset():
    config = SweepConfig(**SMALL, dataset="ImageNet16-120")
    x, y, k, _ = load_config_batch(config)
    assert x.shape == (4, 3, 16, 16) and k == 120
    model = build_model(ARCH, config, k)
    assert model.classifier.out_features == 120 and model(x).shape == (4, 120)
    record = score_arch(ARCH, config)
    assert record["num_classes"] == 120 and record["config"]["dataset"] == "ImageNet16-120" and record["score"] > 0


def test_cli_dataset_option(tmp_path, capsys):
    from gradsign_fast.cli import main

    small = ["--channels", "2", "--cells", "1", "--batch-size", "4", "--threads", "1"]
    assert main(["score", ARCH, "--dataset", "ImageNet16-120", "--json", *small]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["config"]["dataset"] == "ImageNet16-120" and record["num_classes"] == 120
    assert "SYNTHETIC 16x16" in record["batch"]
    assert main(["score", ARCH, "--dataset", "cifar100", "--num-classes", "10", *small]) == 2
    assert "contradicts --dataset cifar100" in capsys.readouterr().err
    assert main(["score", ARCH, "--dataset", "imagenet", *small]) == 2
    capsys.readouterr()
    assert main(["sweep", "--help"]) == 0 and "ImageNet16-120 (120 classes, 16x16)" in capsys.readouterr().out


def test_cli_sweep_and_correlate_cifar100(tmp_path, capsys):
    from gradsign_fast.cli import main

    table = shared_file("nb201/nats_bench_tss_test_acc_200ep.csv")
    results = tmp_path / "c100.jsonl"
    small = ["--channels", "2", "--cells", "1", "--batch-size", "4", "--threads", "1", "--quiet"]
    assert main(["sweep", str(results), "--from-table", str(table), "--archs", "4", "--dataset", "cifar100",
                 *small]) == 0
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(records) == 4 and {r["num_classes"] for r in records} == {100}
    assert main(["correlate", str(results), "--table", str(table), "--accuracy", "CIFAR100TestAccuracy200Epochs"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^archs\s+4\b", out, re.M) and "CIFAR100TestAccuracy200Epochs" in out

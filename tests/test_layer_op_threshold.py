"""benchmarks/layer_op_threshold.py: both paths give the same counts, the table names the shipped pick."""

from __future__ import annotations

import pytest
import torch

from bench_scripts import import_benchmark
from gradsign_fast.engines.layer_op import MIN_CHANNELS_PER_GROUP
from gradsign_fast.ops import registry

cpp = registry.load("cpp")
pytestmark = pytest.mark.skipif(cpp is None or not hasattr(cpp, "conv_weight_signs_"),
                                reason=f"cpp extension not available: {registry.reasons().get('cpp')}")

threshold = import_benchmark("layer_op_threshold")


@pytest.mark.parametrize("channels,groups", [(3, 1), (MIN_CHANNELS_PER_GROUP, 1), (8, 8)])
def test_fused_and_tile_paths_count_alike(channels, groups):
    call, d = threshold.layer_case(channels, 5, groups, batch=3)
    fused, tile = threshold.fused(call, d), threshold.tile(call, d)
    assert fused.shape == (call.module.weight.numel(),)
    assert torch.equal(fused, tile)
    assert fused.abs().sum() > 0


def test_measure_refuses_paths_that_disagree(monkeypatch):
    call, d = threshold.layer_case(4, 4, 1, batch=2)
    monkeypatch.setattr(threshold, "tile", lambda c, g: threshold.fused(c, g) + 1)
    with pytest.raises(AssertionError, match="counts differ"):
        threshold.measure(call, d, repeats=1)


def test_table_has_a_row_per_case_with_the_shipped_pick(capsys):
    below, at = MIN_CHANNELS_PER_GROUP // 2, MIN_CHANNELS_PER_GROUP
    threshold.main(["--channels", f"{below},{at}", "--sizes", "4", "--depthwise", "4", "--batch", "2",
                    "--repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dense") or
            line.startswith("| depthwise")]
    assert [r.split("|")[1].strip() for r in rows] == [f"dense {below}->{below} 3x3", f"dense {at}->{at} 3x3",
                                                      "depthwise 4->4 3x3"]
    assert [r.split("|")[-2].strip() for r in rows] == ["tile", "fused", "tile"]


def test_end_to_end_times_both_settings_and_restores_the_rule(capsys):
    from gradsign_fast.engines import layer_op

    shipped = layer_op.TILE_RULE_MAX_THREADS
    threshold.main(["--end-to-end", "cnn", "--batch", "2", "--repeats", "1", "--threads", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| cnn |")]
    assert len(rows) == 1 and float(rows[0].split("|")[4]) > 0
    assert layer_op.TILE_RULE_MAX_THREADS == shipped

"""At one CPU thread the 'cpp' backend's fused per-layer op runs only where it beats the tile path
(engines/layer_op.py: k x k convs, k > 1, with at most 8 x 8 output positions, and strided 1x1 convs);
with more threads every conv from the channel threshold on. Same score either way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gradsign_fast
from gradsign_fast.cli.arguments import torch_threads
from gradsign_fast.engines.capture import Call
from gradsign_fast.engines.layer_op import layer_op_args, tile_wins_at_one_thread
from gradsign_fast.ops import registry

cpp = registry.load("cpp")
needs_cpp = pytest.mark.skipif(cpp is None or not hasattr(cpp, "conv_weight_signs_"),
                               reason=f"cpp extension not available: {registry.reasons().get('cpp')}")


def _call(conv: nn.Conv2d, size: int) -> tuple[Call, torch.Tensor]:
    """conv's Call on x: (2, C_in, size, size) and its D: (2, C_out, Ho, Wo)."""
    x = torch.randn(2, conv.in_channels, size, size)
    z_shape = conv(x).shape
    return Call(module=conv, x=x, z_shape=z_shape, edge=None, x_node=None, versions=()), torch.randn(z_shape)


@pytest.mark.parametrize("conv,size,tile_wins", [
    (nn.Conv2d(32, 32, 3, padding=1), 16, True),            # 256 output positions
    (nn.Conv2d(32, 32, 3, padding=1), 8, False),            # 64
    (nn.Conv2d(32, 32, 3, padding=1, stride=2), 16, False),  # 8 x 8 out of 16 x 16
    (nn.Conv2d(32, 32, 1), 8, True),                        # 1x1, stride 1: always the tile path
    (nn.Conv2d(32, 64, 1, stride=2), 32, False),            # resnet's downsample stays fused
])
def test_which_convs_the_tile_path_takes_at_one_thread(conv, size, tile_wins):
    call, d = _call(conv, size)
    assert tile_wins_at_one_thread(conv, d) is tile_wins
    assert (layer_op_args([call], [d], cpu_threads=1) is None) is tile_wins
    assert layer_op_args([call], [d], cpu_threads=2) is not None  # 32 channels: the threshold passes


def _net() -> nn.Sequential:
    """(n, 3, 16, 16) -> (n, 10): convs where the rule sends a 3x3 at 16x16 and a 1x1 to the tile path."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),           # 3 channels: tile path always
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),          # 16 x 16: tile at one thread
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),          # 8 x 8: fused
        nn.Conv2d(32, 32, 1, stride=2), nn.ReLU(),           # strided 1x1: fused
        nn.Conv2d(32, 32, 1), nn.ReLU(),                     # 1x1: tile at one thread
        nn.Flatten(), nn.Linear(32 * 16, 10)).double()


@needs_cpp
def test_score_uses_the_fused_op_by_the_rule_and_gives_the_same_number(monkeypatch):
    torch.manual_seed(0)
    model, x, y = _net(), torch.randn(6, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (6,))
    fused_calls: list[tuple[int, ...]] = []
    real = cpp.conv_weight_signs_

    def spy(inputs, grads, geometry, groups, counts, nan, *, isa=None):
        fused_calls.append(tuple(grads[0].shape[1:]))
        return real(inputs, grads, geometry, groups, counts, nan, isa=isa)

    monkeypatch.setattr(cpp, "conv_weight_signs_", spy)
    scores = {}
    for threads in (1, 2):
        fused_calls.clear()
        with torch_threads(threads):
            scores[threads] = gradsign_fast.score(model, x, y, backend="cpp")
        if threads == 1:
            assert fused_calls == [(32, 8, 8), (32, 4, 4)]
        else:
            assert fused_calls == [(32, 16, 16), (32, 8, 8), (32, 4, 4), (32, 4, 4)]
    assert scores[1] == scores[2] == gradsign_fast.score(model, x, y, backend="torch")

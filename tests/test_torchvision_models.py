"""score() against the authors' loop on architectures no one here wrote (torchvision's).

Skipped cleanly where torchvision is absent or does not import beside this torch. float32 within 1e-3
relative (these nets have BatchNorms on 2x2 maps whose mathematically zero gradients come out as
+-1e-17, so float64 is held to the same tolerance, see shared/docs/GRADSIGN.md).
"""

import pytest
import torch

import gradsign_fast
from model_zoo import relative_error

try:
    import torchvision.models as tvm
    from torchvision.models.vision_transformer import VisionTransformer
except Exception as exc:  # ImportError, or a torchvision built for another torch
    pytest.skip(f"torchvision unavailable: {exc}", allow_module_level=True)


def _vit():
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10)


# name -> (factory, input size, the engine that must answer with engine="auto")
MODELS = {
    "resnet18": (lambda: tvm.resnet18(num_classes=10), 64, "batched"),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(num_classes=10), 64, "batched"),
    "shufflenet_v2_x0_5": (lambda: tvm.shufflenet_v2_x0_5(num_classes=10), 64, "batched"),
    "vit_tiny": (_vit, 32, "functorch"),  # nn.MultiheadAttention uses out_proj.weight through F.linear
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_torchvision_model_matches_loop(name, dtype):
    factory, size, engine = MODELS[name]
    torch.manual_seed(0)
    model = factory().to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, size, size, generator=g).to(dtype)
    y = torch.randint(0, 10, (4,), generator=g)
    expected = gradsign_fast.reference.score(model, x, y, dropout=False)
    sums = gradsign_fast.sign_sums(model, x, y, dropout=False)
    assert sums.engine == engine, sums.notes
    assert relative_error(sums.score(), expected) <= 1e-3, (sums.score(), expected)

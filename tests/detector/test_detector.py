"""The Faster R-CNN detector: scales, probabilities, training, checkpoints, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from mural.core import scaled_size
from mural.detections import Detections
from mural.detector import Detector, build_detector, imagenet_cache_path
from mural.detector.training import lr_factor
from mural.errors import ConfigError
from mural.evaluation import evaluate_coco
from tests.detector.helpers import FullImages, draw_dataset, tiny_detector

SIZES = [(64, 64), (64, 48), (50, 70), (37, 64)]
SCALES = [(32, 48), (64, 64), (100, 150)]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return draw_dataset(tmp_path_factory.mktemp("imgs"), SIZES)


@pytest.fixture(scope="module")
def trained(ds, tmp_path_factory):
    det = tiny_detector(seed=1)
    rec = det.fit(FullImages(ds), epochs=2, batch_size=2, lr=0.01, progress=False)
    assert len(rec) == 2 and all(math.isfinite(r["loss"]) for r in rec)
    return det


# ------------------------------------------------------------- controlled model
class FixedProposals(nn.Module):
    """RPN stand-in: one proposal per image at a fixed fraction of the size it receives."""

    FRAC = (0.25, 0.25, 0.75, 0.5)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, int], tuple[int, int]]] = []

    def forward(self, images, features, targets=None):
        boxes = []
        for h, w in images.image_sizes:
            self.seen.append(((int(h), int(w)), tuple(images.tensors.shape[-2:])))
            fx0, fy0, fx1, fy1 = self.FRAC
            boxes.append(torch.tensor([[fx0 * w, fy0 * h, fx1 * w, fy1 * h]]))
        return boxes, {}


class FixedPredictor(nn.Module):
    """Box predictor stand-in: logits (background, c1, c2) = (0, 2, 1), no box regression."""

    LOGITS = torch.tensor([0.0, 2.0, 1.0])

    def forward(self, x):
        n = x.shape[0]
        return self.LOGITS.expand(n, 3).clone(), torch.zeros(n, 12)


def test_network_sees_exact_scaled_size_and_boxes_follow(ds):
    det = tiny_detector()
    rpn = FixedProposals()
    det.model.rpn = rpn
    det.model.roi_heads.box_predictor = FixedPredictor()
    dets = det.predict(ds, scales=SCALES, batch_size=3, score_threshold=0.05)
    e = np.exp([2.0, 1.0, 0.0])
    want_probs = e / e.sum()  # (c1, c2, background): background last
    ids = ds.image_ids()
    seen = iter(rpn.seen)
    for s, scale in enumerate(SCALES):
        d = dets.per_scale[s]
        assert d.scale == scale
        assert d.image_ids.tolist() == ids
        assert np.diff(d.offsets).tolist() == [1] * len(ids)
        for j, image_id in enumerate(ids):
            info = ds.image(image_id)
            hs, ws = scaled_size((info.height, info.width), scale)
            assert tuple(d.scaled_sizes[j]) == (hs, ws)
            # (batched per scale in predict: the order images reached the RPN)
            fx0, fy0, fx1, fy1 = FixedProposals.FRAC
            np.testing.assert_allclose(
                d.boxes[j], [fx0 * ws, fy0 * hs, fx1 * ws, fy1 * hs], atol=1e-3
            )
            # in original pixels the box is the same fraction of the original size, to
            # within the half pixel of rounding in scaled_size
            f = min(
                scale[0] / min(info.height, info.width), scale[1] / max(info.height, info.width)
            )
            np.testing.assert_allclose(
                d.boxes_original()[j],
                [fx0 * info.width, fy0 * info.height, fx1 * info.width, fy1 * info.height],
                atol=0.5 / f + 1e-6,
            )
        np.testing.assert_allclose(
            d.probs.astype(np.float64), np.tile(want_probs, (4, 1)), atol=1e-3
        )
        assert d.labels.tolist() == [0] * 4
        np.testing.assert_allclose(d.scores, want_probs[0], rtol=1e-6)
    # every image at every scale reached the network at exactly its scaled size
    sizes_seen = [hw for hw, _ in seen]
    expected = []
    for scale in SCALES:
        for batch in (ids[:3], ids[3:]):
            expected += [scaled_size((ds.image(i).height, ds.image(i).width), scale) for i in batch]
    assert sorted(sizes_seen) == sorted(expected)
    assert all(p[0] % 32 == 0 and p[1] % 32 == 0 for _, p in rpn.seen)  # padded batch


# ------------------------------------------------------------------ real model
def test_probabilities_rows_and_labels(ds, trained):
    dets = trained.predict(ds, scales=SCALES, batch_size=2, score_threshold=0.0)
    assert dets.num_classes == 2 and dets.scales == SCALES
    total = 0
    for d in dets.per_scale:
        assert d.probs is not None and d.probs.shape == (d.boxes.shape[0], 3)
        p = d.probs.astype(np.float64)
        total += p.shape[0]
        np.testing.assert_allclose(p.sum(1), 1.0, atol=3e-3)
        assert (p[:, :2].argmax(1) == d.labels).all()
        np.testing.assert_allclose(p[np.arange(len(p)), d.labels], d.scores, atol=1e-3)
        # boxes lie inside the scaled image
        hs = np.repeat(d.scaled_sizes[:, 0], np.diff(d.offsets))
        ws = np.repeat(d.scaled_sizes[:, 1], np.diff(d.offsets))
        assert (d.boxes[:, 2] <= ws + 1e-3).all() and (d.boxes[:, 3] <= hs + 1e-3).all()
    assert total > 0


def test_multi_label_mode_keeps_score_equal_to_prob(ds, trained, tmp_path):
    trained.save(tmp_path / "m.pt")
    det = Detector.load(tmp_path / "m.pt", multi_label=True)
    d = det.predict(ds, scales=[(64, 64)], score_threshold=0.0).per_scale[0]
    p = d.probs.astype(np.float64)
    np.testing.assert_allclose(p[np.arange(len(p)), d.labels], d.scores, atol=1e-3)


def test_no_detections_image_and_file_round_trip(ds, trained, tmp_path):
    dets = trained.predict(ds, scales=SCALES, score_threshold=0.999999)
    for d in dets.per_scale:
        assert d.boxes.shape == (0, 4) and d.probs.shape == (0, 3)
        assert d.offsets.tolist() == [0] * (len(SIZES) + 1)
    dets.save(tmp_path / "d.npz")
    back = Detections.load(tmp_path / "d.npz")
    assert back.scales == SCALES and back.per_scale[0].image_ids.tolist() == ds.image_ids()
    assert evaluate_coco(ds, back)["AP"] == 0.0


def test_save_load_gives_identical_predictions(ds, trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    state = torch.load(path, weights_only=True)
    assert state["config"]["backbone"] == "tiny_test" and state["class_names"] == ["red", "green"]
    again = Detector.load(path)
    a = trained.predict(ds, scales=SCALES, score_threshold=0.0)
    b = again.predict(ds, scales=SCALES, score_threshold=0.0)
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    a, b = Detections.load(tmp_path / "a.npz"), Detections.load(tmp_path / "b.npz")
    for x, y in zip(a.per_scale, b.per_scale, strict=True):
        for key in ("boxes", "scores", "labels", "probs", "offsets", "scaled_sizes"):
            np.testing.assert_array_equal(getattr(x, key), getattr(y, key), err_msg=key)


def test_subset_of_images_and_order(ds, trained):
    ids = ds.image_ids()[::-1][:2]
    dets = trained.predict(ds, image_ids=ids, scales=[(64, 64)], score_threshold=0.0)
    assert dets.per_scale[0].image_ids.tolist() == ids
    # DataLoader workers give the same result
    again = trained.predict(ds, image_ids=ids, scales=[(64, 64)], score_threshold=0.0, workers=1)
    np.testing.assert_array_equal(again.per_scale[0].boxes, dets.per_scale[0].boxes)
    np.testing.assert_array_equal(again.per_scale[0].offsets, dets.per_scale[0].offsets)


def test_seeded_init_is_reproducible():
    a, b, c = tiny_detector(seed=3), tiny_detector(seed=3), tiny_detector(seed=4)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# -------------------------------------------------------------------- training
def _state(det):
    return {k: v.clone() for k, v in det.model.state_dict().items()}


def test_resume_after_interrupt_continues_from_checkpoint(ds, tmp_path):
    data = FullImages(ds)
    kw = {"epochs": 3, "batch_size": 2, "lr": 0.01, "seed": 5, "progress": False}
    straight = tiny_detector(seed=2)
    straight.fit(data, out_dir=tmp_path / "a", **kw)

    class Stop(Exception):
        pass

    def stop_after_second(epoch, rec):
        if epoch == 1:
            raise Stop

    first = tiny_detector(seed=2)
    with pytest.raises(Stop):
        first.fit(data, out_dir=tmp_path / "b", on_epoch_end=stop_after_second, **kw)
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["checkpoint.pt"]
    resumed = tiny_detector(seed=2)  # a fresh process would start from scratch weights
    recs = resumed.fit(data, out_dir=tmp_path / "b", **kw)
    assert [r["epoch"] for r in recs] == [2.0]
    sa, sb = _state(straight), _state(resumed)
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=1e-5, atol=1e-6, msg=k)
    # a finished run resumes to nothing; other settings are refused
    assert tiny_detector(seed=2).fit(data, out_dir=tmp_path / "b", **kw) == []
    with pytest.raises(ConfigError, match="other training settings"):
        tiny_detector(seed=2).fit(data, out_dir=tmp_path / "b", **{**kw, "lr": 0.02})


def test_training_changes_weights_and_accepts_boxless_samples(ds):
    data = FullImages(ds)
    assert data[0][1]["boxes"].shape == (0, 4)  # image 1 has no objects
    det = tiny_detector(seed=0)
    before = _state(det)
    det.fit(torch.utils.data.Subset(data, [0]), epochs=1, batch_size=1, progress=False)
    after = _state(det)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_lr_schedule_warmup_and_steps():
    hp = {
        "epochs": 10,
        "warmup_iters": 4,
        "warmup_factor": 0.001,
        "milestones": (0.5, 0.8),
        "gamma": 0.1,
    }
    assert lr_factor(0, 0, **hp) == pytest.approx(0.001)
    assert lr_factor(0, 2, **hp) == pytest.approx(0.001 * 0.5 + 0.5)
    assert lr_factor(0, 4, **hp) == 1.0
    assert lr_factor(4, 0, **hp) == 1.0
    assert lr_factor(5, 0, **hp) == pytest.approx(0.1)
    assert lr_factor(8, 3, **hp) == pytest.approx(0.01)


# ------------------------------------------------------------ config / weights
def test_unknown_names_list_known_ones():
    with pytest.raises(ConfigError, match=r"resnet18_fpn.*resnet50_fpn"):
        build_detector("faster_rcnn", 2, backbone="resnet1000")
    with pytest.raises(ConfigError, match=r"known: .*faster_rcnn"):
        build_detector("yolo", 2)
    with pytest.raises(ConfigError, match="anchor_sizes needs 1 levels"):
        tiny_detector(anchor_sizes=[8, 16])


def _no_download(*args, **kwargs):
    raise AssertionError("a test tried to download")


def test_imagenet_weights_offline_error_and_cache_and_path(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_download)
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert imagenet_cache_path("resnet18_fpn") == expected
    with pytest.raises(ConfigError) as err:
        build_detector("faster_rcnn", 2, backbone="resnet18_fpn", backbone_weights="imagenet")
    msg = str(err.value)
    assert str(expected) in msg and "backbone_weights='/path/to/resnet18-f37072fd.pth'" in msg

    # the file in the cache is used (no network), as is a file given by path
    ref = torchvision.models.resnet18()
    expected.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), expected)
    for weights in ("imagenet", str(expected)):
        det = build_detector(
            "faster_rcnn", 2, backbone="resnet18_fpn", backbone_weights=weights, device="cpu"
        )
        got = det.model.backbone.body.conv1.weight
        torch.testing.assert_close(got, ref.conv1.weight)
    with pytest.raises(ConfigError, match="not found"):
        build_detector("faster_rcnn", 2, backbone="resnet18_fpn", backbone_weights="/no/file.pth")


def test_failed_download_becomes_config_error(tmp_path, monkeypatch):
    def fail(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    with pytest.raises(ConfigError, match=r"could not download.*network unreachable"):
        build_detector(
            "faster_rcnn", 2, backbone="resnet18_fpn", backbone_weights="imagenet", download=True
        )


def test_dataset_class_count_must_match(ds):
    det = build_detector(
        "faster_rcnn", 3, backbone="tiny_test", representation_size=8, device="cpu"
    )
    with pytest.raises(ConfigError, match="3 classes"):
        det.predict(ds)


def test_trains_on_real_training_samples_with_a_region(ds):
    """The pinned TrainingSamples format (full image + a region at another scale) trains."""
    from mural.data.pool import LabeledPool
    from mural.data.samples import TrainingSamples

    pool = LabeledPool(ds)
    ids = ds.image_ids()
    pool.add_full_images(ids[:2], cycle=0)  # ids[0] has no objects
    info = ds.image(ids[2])
    scale = (100, 150)
    hs, ws = scaled_size((info.height, info.width), scale)
    window = (0, 0, min(ws, info.width), min(hs, info.height))
    pool.add_region(ids[2], scale, 2, window, cycle=1)
    samples = TrainingSamples(pool, hflip_prob=0.5, seed=1)
    assert len(samples) == 3
    det = tiny_detector(seed=0)
    before = _state(det)
    rec = det.fit(samples, epochs=2, batch_size=2, progress=False)
    assert len(rec) == 2 and all(math.isfinite(r["loss"]) for r in rec)
    assert any(not torch.equal(before[k], v) for k, v in _state(det).items())

"""VAAL: the reference's values (github.com/sinhasam/vaal), its networks' sizes counted by
hand, and the scoring/selection rule on a hand-made case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.strategies import build_strategy
from mural.strategies.vaal import PRESETS, rank_unlabelled, training_iterations

from .helpers import make_context


def test_reference_preset_is_the_reference_code() -> None:
    # arguments.py: batch_size 128, train_epochs 100, latent_dim 32, beta 1, num_adv_steps 1,
    # num_vae_steps 2, adversary_param 1; solver.py: Adam lr 5e-4 (VAE and discriminator);
    # model.py: 32x32 inputs, encoder 128, 256, 512, 1024 channels
    assert PRESETS["reference"] == {
        "image_size": 32,
        "latent_dim": 32,
        "channels": 128,
        "batch_size": 128,
        "epochs": 100,
        "vae_steps": 2,
        "adversary_steps": 1,
        "lr": 5e-4,
        "beta": 1.0,
        "adversary_weight": 1.0,
    }
    s = build_strategy("vaal")
    assert s.options["preset"] == "reference"
    got = s.settings(50000)  # type: ignore[attr-defined]
    # solver.py: train_iterations = num_images * train_epochs // batch_size (CIFAR: 50000)
    assert got["iterations"] == 50000 * 100 // 128 == training_iterations(50000, 100, 128)
    assert {k: got[k] for k in PRESETS["reference"]} == PRESETS["reference"]


def test_explicit_options_win_over_the_preset() -> None:
    s = build_strategy("vaal", preset="small", channels=8, image_size=40, iterations=7)
    got = s.settings(100)  # type: ignore[attr-defined]
    assert got["channels"] == 8 and got["image_size"] == 32 and got["iterations"] == 7
    assert got["batch_size"] == PRESETS["small"]["batch_size"]
    got = build_strategy("vaal", preset="small").settings(100)  # type: ignore[attr-defined]
    assert got["iterations"] == 100 * 20 // 32
    assert training_iterations(3, 1, 128) == 1  # at least one step


def test_rank_unlabelled_by_hand() -> None:
    order, scores = rank_unlabelled(np.array([0.9, 0.2, 0.5, 0.2, 0.99]))
    assert order.tolist() == [1, 3, 2, 0, 4]  # lowest D first; the tie keeps D_U order
    np.testing.assert_allclose(scores, [0.8, 0.8, 0.5, 0.1, 0.01])


def _dataset(root: Path, objs: dict[int, int]) -> CocoDataset:
    images, anns, aid = [], [], 1
    for iid, n in objs.items():
        Image.new("RGB", (48, 32), (iid * 30, 0, 0)).save(root / f"{iid}.png")
        images.append({"id": iid, "file_name": f"{iid}.png", "height": 32, "width": 48})
        for k in range(n):
            anns.append(
                {"id": aid, "image_id": iid, "category_id": 1, "iscrowd": 0,
                 "bbox": [2 + 5 * k, 2, 4, 4], "area": 16}
            )  # fmt: skip
            aid += 1
    return CocoDataset.from_dict(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]},
        image_root=root,
    )


def test_vaal_selection_on_given_discriminator_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from mural.detector import vaal as nets

    # image -> objects: 1 labelled; D_U = 2 (2 objects), 3 (no objects), 4 (3), 5 (1), 6 (2)
    ds = _dataset(tmp_path, {1: 1, 2: 2, 3: 0, 4: 3, 5: 1, 6: 2})
    pool = LabeledPool(ds)
    pool.add_full_images([1], cycle=0)
    du = pool.unlabelled_images()
    assert du == [2, 3, 4, 5, 6]
    d_of = {2: 0.7, 3: 0.1, 4: 0.3, 5: 0.3, 6: 0.05}  # D(mu): P(labelled)
    seen: dict[str, Any] = {}

    def fake(xu: np.ndarray, xl: np.ndarray, **kw: Any) -> np.ndarray:
        seen.update(kw, xu=xu.shape, xl=xl.shape)
        return np.array([d_of[i] for i in du])

    monkeypatch.setattr(nets, "vaal_labelled_probability", fake)
    ctx = make_context(ds, pool, None, 5, model=None)
    res = build_strategy("vaal", preset="small").select(ctx)
    # ascending D: 6 (0.05, 2 objects), 3 (0.1, 0 objects), 4 (0.3, 3 objects): 5 >= B = 5
    assert [it.image_id for it in res.items] == [6, 3, 4]
    assert res.spent == 5 and res.cost == 5
    np.testing.assert_allclose([it.score for it in res.items], [0.95, 0.9, 0.7])
    # the small preset's settings, thumbnails of D_U and D_L at 32 px
    assert seen["xu"] == (5, 3, 32, 32) and seen["xl"] == (1, 3, 32, 32)
    assert seen["channels"] == 16 and seen["batch_size"] == 32 and seen["vae_steps"] == 2
    assert seen["iterations"] == 6 * 20 // 32
    # B = 6: 5 (0.3, after 4 in D_U order) is next
    res = build_strategy("vaal", preset="small").select(make_context(ds, pool, None, 6))
    assert [it.image_id for it in res.items] == [6, 3, 4, 5]


def test_network_sizes_and_work_by_hand() -> None:
    torch = pytest.importorskip("torch")
    from mural.detector.vaal import build_vaal, vaal_forward_macs

    vae, disc = build_vaal(32, 32, 128, seed=0)
    x = torch.zeros(2, 3, 32, 32)
    assert vae.encoder(x).shape == (2, 1024 * 2 * 2)  # model.py: View((-1, 1024*2*2))
    rec, mu, logvar = vae(x, torch.Generator())
    assert rec.shape == x.shape and mu.shape == logvar.shape == (2, 32)
    assert disc(mu).shape == (2, 1)
    k = 16  # 4x4 kernels
    enc = 16 * 16 * 3 * 128 * k + 8 * 8 * 128 * 256 * k + 4 * 4 * 256 * 512 * k
    enc += 2 * 2 * 512 * 1024 * k + 2 * 4096 * 32
    dec = 32 * 1024 * 4 * 4 + 4 * 4 * 1024 * 512 * k + 8 * 8 * 512 * 256 * k
    dec += 16 * 16 * 256 * 128 * k + 32 * 32 * 128 * 3
    assert vaal_forward_macs(32, 32, 128) == {
        "vae": enc + dec,
        "discriminator": 32 * 512 + 512 * 512 + 512,
    }
    with pytest.raises(ValueError, match="multiple of 16"):
        build_vaal(40, 32, 8, seed=0)


def test_training_is_seeded_and_leaves_global_rng_alone() -> None:
    torch = pytest.importorskip("torch")
    from mural.detector.vaal import vaal_labelled_probability

    rng = np.random.default_rng(0)
    xu = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    xl = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    kw: dict[str, Any] = {"channels": 4, "iterations": 3, "batch_size": 4, "seed": 5}
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = vaal_labelled_probability(xu, xl, **kw)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = vaal_labelled_probability(xu, xl, **kw)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6,) and ((a >= 0) & (a <= 1)).all()
    c = vaal_labelled_probability(xu, xl[:0], **kw)  # no labelled image
    assert c.shape == (6,)

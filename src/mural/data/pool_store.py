"""The pool's files: ``pool.json`` (the authority) and ``labeled.json`` (COCO of every label
event), read and written here, apart from the pool's logic (:mod:`mural.data.pool`).

Loading goes through the same checks as labelling (``LabeledPool._validated_region``,
``_check_image``, ``_check_objects``), so a file can hold nothing the pool's methods would
refuse. See ``docs/pool.md`` for the formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..io import atomic_write_json, read_json

if TYPE_CHECKING:  # pragma: no cover
    from .coco import CocoDataset
    from .pool import LabeledPool

__all__ = ["load_pool", "pool_dataset_ref", "pool_to_coco", "pool_to_json", "save_pool"]


def pool_to_json(pool: LabeledPool) -> dict[str, Any]:
    """The ``pool.json`` document."""
    from .pool import POOL_FORMAT, POOL_VERSION

    ds = pool.dataset
    counts = pool.class_counts()
    return {
        "format": POOL_FORMAT,
        "version": POOL_VERSION,
        "dataset": {
            **ds.reference(),
            "num_images": len(ds.images),
            "num_annotations": len(ds.annotations),
        },
        "visible_threshold": pool.visible_threshold,
        "summary": {
            "labelled_objects": pool.num_labelled(),
            "class_counts": {n: int(c) for n, c in zip(ds.class_names, counts, strict=True)},
            "unlabelled_images": len(pool.unlabelled_images()),
        },
        "full_images": [{"image_id": i, "cycle": c} for i, c in pool.full_images.items()],
        "regions": [r.to_json() for r in pool.regions],
        "partial": [
            {"image_id": i, "objects": [{"ann_id": a, "cycle": c} for a, c in objs.items()]}
            for i, objs in pool.partial.items()
        ],
    }


def _coco_gt(ann: Any, source: str, cycle: int) -> dict[str, Any]:
    return {
        "image_id": ann.image_id,
        "category_id": ann.category_id,
        "bbox": [float(v) for v in ann.bbox],
        "area": float(ann.area),
        "iscrowd": int(ann.iscrowd),
        "mural_source": source,
        "mural_cycle": cycle,
        "mural_gt_ann_id": ann.id,
    }


def pool_to_coco(pool: LabeledPool) -> dict[str, Any]:
    """A COCO dict of every label event; ids are renumbered.

    Region boxes are mapped back to original pixels and clipped to the image (a box
    reaching the scaled image's rounded edge would otherwise pass it by a fraction of a
    pixel). Extra annotation fields: ``mural_source`` (``full``/``region``/``partial``),
    ``mural_cycle``, ``mural_gt_ann_id`` (GT id or ``None``), and for regions
    ``mural_region`` (index in ``regions``), ``mural_scale``, ``mural_scale_index``,
    ``mural_window``.
    """
    ds = pool.dataset
    anns: list[dict[str, Any]] = []

    def add(a: dict[str, Any]) -> None:
        a["id"] = len(anns) + 1
        anns.append(a)

    for iid, cyc in pool.full_images.items():
        for ann in ds.annotations_of(iid):
            add(_coco_gt(ann, "full", cyc))
    for k, r in enumerate(pool.regions):
        frame = pool.region_frame(r.image_id, r.scale, r.window)
        orig = frame.clip_to_image(frame.window_to_original(r.boxes)).tolist()
        for a, (bx0, by0, bx1, by1), c in zip(r.ann_ids, orig, r.category_ids, strict=True):
            bw, bh = bx1 - bx0, by1 - by0
            add(
                {
                    "image_id": r.image_id,
                    "category_id": c,
                    "bbox": [bx0, by0, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                    "mural_source": "region",
                    "mural_cycle": r.cycle,
                    "mural_gt_ann_id": a,
                    "mural_region": k,
                    "mural_scale": list(r.scale),
                    "mural_scale_index": r.scale_index,
                    "mural_window": list(r.window),
                }
            )
    for iid, objs in pool.partial.items():
        by_id = {a.id: a for a in ds.annotations_of(iid)}
        for aid, cyc in objs.items():
            add(_coco_gt(by_id[aid], "partial", cyc))
    images = [
        {"id": i.id, "file_name": i.file_name, "height": i.height, "width": i.width}
        for i in (ds.image(iid) for iid in pool.labelled_images())
    ]
    cats = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in ds.categories]
    return {
        "info": {"description": "mural labelled pool (every label event)"},
        "images": images,
        "annotations": anns,
        "categories": cats,
    }


def save_pool(pool: LabeledPool, directory: str | Path) -> None:
    """Write ``pool.json`` and ``labeled.json`` into ``directory``, each atomically.

    ``labeled.json`` is written first; ``pool.json`` (the authority) last.
    """
    from .pool import LABELED_FILE, POOL_FILE

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / LABELED_FILE, pool_to_coco(pool), indent=None)
    atomic_write_json(d / POOL_FILE, pool_to_json(pool))


def load_pool(
    cls: type[LabeledPool], directory: str | Path, dataset: CocoDataset | None = None
) -> LabeledPool:
    """Read a pool saved by :func:`save_pool`.

    ``dataset`` defaults to the dataset recorded in ``pool.json``. Raises
    :class:`DataError` naming the file and entry when the file is malformed or refers to
    images or annotations the dataset lacks.
    """
    from .pool import POOL_FILE, POOL_FORMAT, POOL_VERSION, _as_int

    path = Path(directory) / POOL_FILE
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != POOL_FORMAT:
        raise DataError(f"{path}: not a mural pool file (field 'format' != '{POOL_FORMAT}')")
    if doc.get("version") != POOL_VERSION:
        raise DataError(
            f"{path}: field 'version' is {doc.get('version')!r}; this mural reads version "
            f"{POOL_VERSION} (fix: re-create the pool with this mural version)"
        )
    if dataset is None:
        from .coco import CocoDataset

        ann, images = pool_dataset_ref(directory)
        if ann is None:
            raise DataError(f"{path}: records no dataset path (fix: pass the dataset explicitly)")
        dataset = CocoDataset.load(ann, images)
    try:
        pool = cls(dataset, float(doc.get("visible_threshold", 0.7)))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: field 'visible_threshold': {exc}") from None
    meta = doc.get("dataset") or {}
    n_img = meta.get("num_images") if isinstance(meta, dict) else None
    where = ""
    try:
        for k, e in enumerate(doc.get("full_images", [])):
            where = f"full_images[{k}]"
            iid = pool._check_image(e["image_id"])
            pool.full_images[iid] = _as_int(e["cycle"], "cycle")
        for k, e in enumerate(doc.get("regions", [])):
            where = f"regions[{k}]"
            pool.regions.append(
                pool._validated_region(
                    e["image_id"],
                    e["scale"],
                    e["scale_index"],
                    e["window"],
                    e["cycle"],
                    e["boxes"],
                    e["category_ids"],
                    e["ann_ids"],
                    e["ignore"],
                    e.get("new_ann_ids", []),
                )
            )
        for k, e in enumerate(doc.get("partial", [])):
            where = f"partial[{k}]"
            iid = pool._check_image(e["image_id"])
            objs = [o["ann_id"] for o in e["objects"]]
            ids = pool._check_objects(iid, objs)
            pool.partial[iid] = {
                a: _as_int(o["cycle"], "cycle") for a, o in zip(ids, e["objects"], strict=True)
            }
    except DataError as exc:
        hint = ""
        if n_img is not None and n_img != len(dataset.images):
            hint = f"; pool.json was made on a dataset of {n_img} images"
        raise DataError(
            f"{path}: {where}: {exc} (fix: load the pool with the dataset it was made from{hint})"
        ) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(f"{path}: {where}: malformed entry ({exc!r})") from None
    pool._rebuild()
    return pool


def pool_dataset_ref(directory: str | Path) -> tuple[Path | None, Path | None]:
    """``(annotations json, images folder)`` recorded in a pool folder's ``pool.json``."""
    from .pool import POOL_FILE

    path = Path(directory) / POOL_FILE
    doc = read_json(path)
    meta = doc.get("dataset") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        return None, None
    ann, img = meta.get("annotations"), meta.get("images")
    return (Path(ann) if ann else None), (Path(img) if img else None)

"""The active-learning cycle (contract §8): train → evaluate → infer → select → acquire.

A run lives in one folder, whose layout :class:`mural.rundir.RunDir` owns::

    RUN_DIR/config.yaml          the resolved configuration (one seed)
    RUN_DIR/metrics.jsonl        one line per finished cycle (rewritten whole, idempotent)
    RUN_DIR/timings.jsonl        one line per stage this folder ran: its wall seconds
                                 (appended; a stage skipped on resume adds nothing)
    RUN_DIR/initial_pool/        D_L before the first cycle (seeded random full images)
    RUN_DIR/cycle_00/model.pt    train      (detector trained on D_L; train/ holds its checkpoints)
    RUN_DIR/cycle_00/metrics.json evaluate  (COCOeval on the held-out split + pool counts)
    RUN_DIR/cycle_00/detections.npz infer   (D_U at every configured scale)
    RUN_DIR/cycle_00/selection.json select  (what the strategy picked, under budget B)
    RUN_DIR/cycle_00/pool/       acquire    (D_L after acquisition: the next cycle's D_L)

Each file is written atomically and a stage is done iff its file exists, so a rerun after
any interruption (even ``kill -9``) continues at the first unfinished stage. Every seed
is derived from ``(run seed, cycle, stage)`` (:func:`derive_seed`), hence a resumed run ends
with the same results as an uninterrupted one. ``cycles = N`` trains ``N + 1`` detectors:
cycle ``N`` only trains and evaluates. Within a cycle, the stages share one
:class:`_Cycle`: its pool and its trained detector are each loaded at most once.

Under ``torchrun --nproc_per_node N -m mural run ...`` every rank trains (DDP) and predicts
its shard of ``D_U`` and of the held-out split; rank 0 alone writes (data, config, stage
files, log) and selects, and decides whether a stage is done (broadcast to the others);
the others wait at a barrier after each stage.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .config import RunConfig, config_from_dict, config_to_dict
from .errors import ConfigError, MuralError
from .io import (
    atomic_write_json,
    atomic_write_text,
    claim_folder,
    folder_lock,
    read_json,
    remove_stale_temps,
)
from .rundir import STAGE_FILES, STAGE_OF_FILE, STAGES, RunDir
from .selection import read_selection, write_selection

__all__ = [
    "STAGES",
    "STAGE_FILES",
    "check_config",
    "derive_seed",
    "load_datasets",
    "log_timing",
    "pool_subset",
    "rebuild_metrics_log",
    "run_config",
    "run_loop",
]

_STAGE_CODE = {
    "initial": 0,
    **{s: i + 1 for i, s in enumerate(STAGES)},
    "samples": 9,
    "weights": 10,
    "subset": 11,
}


def derive_seed(seed: int, cycle: int, stage: str) -> int:
    """A 32-bit seed that is a pure function of ``(run seed, cycle, stage)``."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(cycle) + 1, _STAGE_CODE[stage]])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def pool_subset(
    train_ids: Sequence[int], unlabelled: Sequence[int], size: int, seed: int, cycle: int
) -> list[int]:
    """The images of ``D_U`` that cycle ``cycle`` scores under ``selection.pool_subset``.

    A seeded random order of *all* training images ``train_ids`` is drawn from
    ``derive_seed(seed, cycle, "subset")`` (never from the strategy); the subset is the
    first ``size`` images of that order that are in ``unlabelled``, returned sorted. Two
    strategies of a seed thus score the same images wherever their ``D_U`` agree (at
    cycle 0 always), and a rerun scores the same images again. All of ``unlabelled`` when
    it holds at most ``size`` images.
    """
    if size < 1:
        raise ConfigError(f"config key 'selection.pool_subset': bad value {size}; expected >= 1")
    du = {int(i) for i in unlabelled}
    if len(du) <= size:
        return sorted(du)
    order = np.sort(np.asarray(train_ids, dtype=np.int64))
    rng = np.random.default_rng(derive_seed(seed, cycle, "subset"))
    ranked = order[rng.permutation(order.shape[0])]
    return sorted([int(i) for i in ranked if int(i) in du][:size])


# ------------------------------------------------------------------ datasets and setup


def load_datasets(cfg: RunConfig, run_dir: Path, *, generate: bool = True) -> tuple[Any, Any]:
    """The training pool and the held-out split (generating a synthetic dataset if asked,
    unless ``generate`` is false: then it must be there already)."""
    from .data.coco import CocoDataset

    d = cfg.dataset
    if d.synthetic is not None:
        root = Path(d.synthetic_dir) if d.synthetic_dir else RunDir(run_dir).data
        if generate:
            ensure_synthetic(cfg, root)
        return (
            CocoDataset.load(root / "train.json", root / "images"),
            CocoDataset.load(root / "val.json", root / "images"),
        )
    assert d.train is not None and d.val is not None
    return CocoDataset.load(d.train, d.train_images), CocoDataset.load(d.val, d.val_images)


def ensure_synthetic(cfg: RunConfig, root: Path) -> None:
    """Generate the configured synthetic dataset in ``root`` unless already complete there.

    ``root`` must be new, empty or mural's (:func:`mural.io.claim_folder`): a folder
    holding someone else's files is refused, never overwritten. Processes sharing one
    ``root`` wait for each other (one generates, the others find it complete).
    """
    from .data.synthetic import is_synthetic_folder, make_synthetic

    s = cfg.dataset.synthetic
    assert s is not None
    stamp = root / ".mural-synthetic.json"
    want = {"seed": s.seed, "n_train": s.n_train, "n_val": s.n_val, "size": s.size}
    option = "dataset.synthetic_dir" if cfg.dataset.synthetic_dir else "--out (its data/ folder)"
    claim_folder(root, "synthetic", option=option, legacy=is_synthetic_folder, check_only=True)
    with folder_lock(root, what="synthetic dataset folder", wait=True):
        if stamp.is_file():
            have = read_json(stamp)
            if have == want:
                return
            raise ConfigError(
                f"{root}: holds a synthetic dataset made with {have}, not {want} "
                "(fix: choose another dataset.synthetic_dir or --out)"
            )
        claim_folder(root, "synthetic", option=option, legacy=is_synthetic_folder)
        remove_stale_temps(root)
        make_synthetic(
            root,
            seed=s.seed,
            n_train=s.n_train,
            n_val=s.n_val,
            image_size=(s.size, s.size),
            overwrite=True,
        )
        atomic_write_json(stamp, want)


def _initial_pool(cfg: RunConfig, train: Any) -> Any:
    from .data.pool import LabeledPool

    ids = np.asarray(train.image_ids(), dtype=np.int64)
    n = ids.shape[0]
    i = cfg.initial
    count = i.count if i.count is not None else max(1, round((i.fraction or 0.0) * n))
    if count > n:
        raise ConfigError(
            f"config key 'initial.count': bad value {count}; expected at most {n} "
            "(the training images)"
        )
    rng = np.random.default_rng([i.seed, cfg.seed & 0xFFFFFFFF])
    chosen = np.sort(rng.choice(ids, size=count, replace=False))
    pool = LabeledPool(train, cfg.dataset.visible_threshold)
    pool.add_full_images([int(x) for x in chosen], cycle=0)
    return pool


def read_run_config(path: Path) -> RunConfig:
    """The ``config.yaml`` of a run folder; a damaged one is refused with a message."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        why = " ".join(str(exc).split())
        raise ConfigError(
            f"{path}: damaged, not valid YAML ({why}) (fix: restore the file mural wrote, or "
            "start the run again in a new --out)"
        ) from None
    try:
        return config_from_dict(data or {})
    except ConfigError as exc:
        raise ConfigError(
            f"{path}: damaged: {exc} (fix: restore the file mural wrote, or start the run "
            "again in a new --out)"
        ) from None


def is_run_folder(path: Path) -> bool:
    """A run folder an earlier mural made (before folder markers): a readable config.yaml
    (or, for several seeds, a ``seed_<s>/`` holding one)."""
    for cand in [path / "config.yaml", *sorted(path.glob("seed_*/config.yaml"))]:
        try:
            read_run_config(cand)
        except (OSError, ConfigError):
            continue
        return True
    return False


def check_same_config(
    cfg: RunConfig, run_dir: Path, resume: str = "the same config and overrides"
) -> bool:
    """Whether ``run_dir`` already holds ``cfg``'s ``config.yaml``; a different (or
    damaged) one is refused, the fix naming what to pass again (``resume``) to resume."""
    path = RunDir(run_dir).config
    if not path.is_file():
        return False
    if config_to_dict(read_run_config(path)) != config_to_dict(cfg):
        raise ConfigError(
            f"{path}: this folder holds a run with a different configuration "
            f"(fix: pass another --out, or {resume} to resume)"
        )
    return True


def _write_config(cfg: RunConfig, run_dir: Path) -> None:
    """Write ``config.yaml``; a folder holding a different run's config is refused."""
    if not check_same_config(cfg, run_dir):
        atomic_write_text(
            RunDir(run_dir).config, yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
        )


def check_folders(cfg: RunConfig, run_dir: Path) -> None:
    """Refuse, reading only, the folders a run may not write into: a run folder or
    ``dataset.synthetic_dir`` holding files mural did not write, a run folder holding
    another configuration's run (or a damaged ``config.yaml``)."""
    from .data.synthetic import is_synthetic_folder

    if _rank() != 0:
        return
    claim_folder(run_dir, "run", legacy=is_run_folder, check_only=True)
    d = cfg.dataset
    if d.synthetic is not None and d.synthetic_dir:
        claim_folder(
            Path(d.synthetic_dir),
            "synthetic",
            option="dataset.synthetic_dir",
            legacy=is_synthetic_folder,
            check_only=True,
        )
    check_same_config(cfg, run_dir)


def _rank() -> int:
    """This process's rank under ``torchrun`` (0 otherwise)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


# ------------------------------------------------------------------ distributed helpers


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1

    def barrier(self) -> None:
        if self.world > 1:
            from .detector.distributed import barrier

            barrier()

    def agree(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (so all ranks take the same branch)."""
        if self.world == 1:
            return value
        from .detector.distributed import broadcast_object

        return broadcast_object(value)


def _rank0_first(dist: _Dist, fn: Callable[[], object]) -> None:
    """Run ``fn`` on rank 0 while the others wait; its error is raised on every rank."""
    err: MuralError | None = None
    if dist.rank == 0:
        try:
            fn()
        except MuralError as exc:
            if dist.world == 1:
                raise
            err = exc
    err = dist.agree(err)
    if err is not None:
        raise err


def _dist() -> _Dist:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _Dist()
    try:
        from .detector.distributed import init_distributed
    except ImportError:  # pragma: no cover - helpers absent: one process
        return _Dist()
    info = init_distributed()
    return _Dist(info.rank, info.world_size)


# ------------------------------------------------------------------ the cycle


class _Cycle:
    """What the stages of one cycle share, each loaded at most once and only when a stage
    that needs it runs (a resumed cycle loads nothing for the stages already done):
    ``pool``, the D_L the cycle trains on, and ``detector``, the cycle's trained model."""

    def __init__(self, run: _Run, c: int) -> None:
        self.run, self.c = run, c
        self._pool: Any = None
        self._detector: Any = None

    @property
    def pool(self) -> Any:
        from .data.pool import LabeledPool

        if self._pool is None:
            self._pool = LabeledPool.load(self.run.dir.pool(self.c), self.run.train_ds)
        return self._pool

    @property
    def detector(self) -> Any:
        from .detector import Detector

        if self._detector is None:
            self._detector = Detector.load(self.run.dir.model(self.c), device=self.run.cfg.device)
        return self._detector

    def take_pool(self) -> Any:
        """The pool, for a stage that changes it (acquire); later stages reload it."""
        pool, self._pool = self.pool, None
        return pool


class _Run:
    """Everything one run's stages share; the stages are its methods."""

    def __init__(self, cfg: RunConfig, run_dir: RunDir, progress: bool, dist: _Dist) -> None:
        from .strategies import build_strategy

        self.cfg, self.dir, self.progress, self.dist = cfg, run_dir, progress, dist
        # rank 0 made a synthetic dataset in ``run_loop``; the others only read it
        self.train_ds, self.val_ds = load_datasets(cfg, run_dir.root, generate=dist.rank == 0)
        self.strategy = build_strategy(cfg.strategy.name, **cfg.strategy.options)
        self._initial_labelled: int | None = None

    # -- plumbing -------------------------------------------------------------------
    def initial_labelled(self) -> int:
        """Objects labelled in the initial pool (loaded once per run)."""
        if self._initial_labelled is None:
            from .data.pool import LabeledPool

            pool = LabeledPool.load(self.dir.initial_pool, self.train_ds)
            self._initial_labelled = int(pool.num_labelled())
        return self._initial_labelled

    def stage(self, path: Path, write: Callable[[Path], None], everyone: bool = False) -> None:
        """Run ``write(tmp)`` unless ``path`` exists, then move ``tmp`` onto ``path``.

        Rank 0 decides whether the stage is done and writes; the other ranks run
        ``write`` too only when ``everyone`` (training and prediction are shared by all
        processes; there they must not write) and wait for rank 0 at the end.
        """
        if not self.dist.agree(path.exists()):
            tmp = path.with_name(f".{path.name}.partial")
            if self.dist.rank == 0 and tmp.is_dir():
                shutil.rmtree(tmp)
            start = time.perf_counter()
            if self.dist.rank == 0 or everyone:
                write(tmp)
            if self.dist.rank == 0:
                os.replace(tmp, path)
                log_timing(self.dir, path, time.perf_counter() - start)
        self.dist.barrier()

    def scored_images(self, cy: _Cycle) -> list[int] | None:
        """The images of the cycle's ``D_U`` to score: ``selection.pool_subset`` of them,
        or ``None`` (all)."""
        n = self.cfg.selection.pool_subset
        if n is None:
            return None
        du = cy.pool.unlabelled_images()
        return pool_subset(self.train_ds.image_ids(), du, n, self.cfg.seed, cy.c)

    # -- stages ---------------------------------------------------------------------
    def train(self, cy: _Cycle, out: Path) -> None:
        from .data.samples import TrainingSamples
        from .detector import Detector, build_detector

        c, d = cy.c, self.cfg.detector
        if d.warm_start and c > 0:
            det = Detector.load(self.dir.model(c - 1), device=self.cfg.device)
        else:
            det = build_detector(
                d.name,
                num_classes=self.train_ds.num_classes,
                backbone=d.backbone,
                backbone_weights=d.backbone_weights,
                min_size=d.min_size,
                max_size=d.max_size,
                class_names=self.train_ds.class_names,
                seed=derive_seed(self.cfg.seed, c, "weights"),
                device=self.cfg.device,
                **d.options,
            )
        samples = TrainingSamples(
            cy.pool,
            hflip_prob=d.hflip_prob,
            seed=derive_seed(self.cfg.seed, c, "samples"),
            train_scale=(d.min_size, d.max_size),
            region_ignore=d.region_ignore,
        )
        det.fit(
            samples,
            **d.train_options,
            epochs=d.epochs if c > 0 or d.initial_epochs is None else d.initial_epochs,
            lr=d.lr,
            batch_size=d.batch_size,
            seed=derive_seed(self.cfg.seed, c, "train"),
            out_dir=self.dir.train_dir(c),
            resume=True,
            workers=self.cfg.workers,
            progress=self.progress,
        )
        if self.dist.rank == 0:
            det.save(out)

    def evaluate(self, cy: _Cycle, out: Path) -> None:
        from .evaluation import evaluate_coco, json_safe

        d = self.cfg.detector
        dets = cy.detector.predict(
            self.val_ds,
            self.val_ds.image_ids(),
            [(d.min_size, d.max_size)],
            batch_size=d.batch_size,
            workers=self.cfg.workers,
            score_threshold=d.score_threshold,
            progress=self.progress,
        )
        if self.dist.rank != 0:
            return
        m = json_safe(evaluate_coco(self.val_ds, dets))
        pool = cy.pool
        record = {
            "cycle": cy.c,
            "labelled_objects": pool.num_labelled(),
            "added_objects": pool.num_labelled() - self.initial_labelled(),
            "full_images": len(pool.full_images),
            "images_fully_labelled": len(self.train_ds.image_ids()) - len(pool.unlabelled_images()),
            "regions": len(pool.regions),
            "partial_images": len(pool.partial),
            "mAP": m["AP"],
            "AP50": m["AP50"],
            "per_class_AP": {n: m.get(f"AP/{n}") for n in self.val_ds.class_names},
            "labelled_per_class": dict(
                zip(self.train_ds.class_names, pool.class_counts().tolist(), strict=True)
            ),
            "coco": m,
        }
        atomic_write_json(out, record)

    def infer(self, cy: _Cycle, out: Path) -> None:
        from .detections import Detections, ScaleDetections

        d = self.cfg.detector
        scales = [(int(s[0]), int(s[1])) for s in self.cfg.scales]
        need = self.strategy.needed_scales(scales, (d.min_size, d.max_size))
        # Inference only at the scales the strategy reads (none for random); the others
        # stay empty so scale indices keep their meaning.
        got = None
        if need:
            ids = self.scored_images(cy)
            got = cy.detector.predict(
                self.train_ds,
                cy.pool.unlabelled_images() if ids is None else ids,
                [scales[i] for i in need],
                batch_size=d.batch_size,
                workers=self.cfg.workers,
                score_threshold=d.score_threshold,
                progress=self.progress,
            )
        if self.dist.rank == 0:
            per = [ScaleDetections.empty(s) for s in scales]
            for k, i in enumerate(need):
                assert got is not None
                per[i] = got.per_scale[k]
            Detections(self.train_ds.num_classes, per if need else []).save(out)

    def select(self, cy: _Cycle, out: Path) -> None:
        from .detections import Detections
        from .strategies import SelectionContext

        c, d = cy.c, self.cfg.detector
        strategy = self.strategy
        seed = derive_seed(self.cfg.seed, c, "select")
        det_path = self.dir.detections(c)
        scored = self.scored_images(cy)
        ctx = SelectionContext(
            dataset=self.train_ds,
            pool=cy.pool,
            detections=Detections.load(det_path) if strategy.needs_detections else None,
            budget=self.cfg.budget,
            cycle=c + 1,
            rng=np.random.default_rng(seed),
            score_threshold=d.score_threshold,
            detector=cy.detector if strategy.needs_model else None,
            train_scale=(d.min_size, d.max_size),
            seed=seed,
            candidates=scored,
        )
        result = strategy.select(ctx)
        result.inputs = {"detections": det_path.relative_to(self.dir.root).as_posix()}
        if scored is not None:  # selection.pool_subset: which images were scored
            result.inputs["pool_subset"] = self.cfg.selection.pool_subset
            result.inputs["scored_images"] = scored
        write_selection(out, result)

    def acquire(self, cy: _Cycle, out: Path) -> None:
        result = read_selection(self.dir.selection(cy.c))
        pool = cy.take_pool()
        pool.acquire(result, cy.c + 1)
        pool.save(out)

    # -- one cycle ------------------------------------------------------------------
    def cycle(self, c: int) -> None:
        rd, cy = self.dir, _Cycle(self, c)
        if self.dist.rank == 0:
            rd.cycle(c).mkdir(parents=True, exist_ok=True)
        self.stage(rd.model(c), lambda p: self.train(cy, p), everyone=True)
        self.stage(rd.metrics(c), lambda p: self.evaluate(cy, p), everyone=True)
        if c < self.cfg.cycles:
            self.stage(rd.detections(c), lambda p: self.infer(cy, p), everyone=True)
            self.stage(rd.selection(c), lambda p: self.select(cy, p))
            self.stage(rd.acquired_pool(c), lambda p: self.acquire(cy, p))
        if self.dist.rank == 0:
            rebuild_metrics_log(rd.root)


def check_config(cfg: RunConfig) -> None:
    """Refuse, before any work, names and options that would fail only in a later stage:
    the strategy and its options, the detector's name, and what the detector class says
    about its backbone, options and ``train_options`` (``Detector.check_config``)."""
    from .detector import detector_class, known_detectors
    from .strategies import build_strategy

    build_strategy(cfg.strategy.name, **cfg.strategy.options)
    d = cfg.detector
    if d.name not in known_detectors():
        raise ConfigError(
            f"config key 'detector.name': unknown detector {d.name!r}; "
            f"known: {', '.join(known_detectors())}"
        )
    detector_class(d.name).check_config(
        backbone=d.backbone, options=d.options, train_options=d.train_options
    )
    _check_device(cfg.device)


def _check_device(device: str) -> None:
    """Refuse ``device=cuda`` (or ``cuda:N``) when no such GPU is visible."""
    if not device.startswith("cuda"):
        return
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device[5:]) if device.startswith("cuda:") else 0
    if index >= n:
        have = f"{n} CUDA device(s) are visible" if n else "no CUDA GPU is visible"
        raise ConfigError(
            f"config key 'device': bad value {device!r}; {have} (fix: device=cpu, or "
            "device=auto to use a GPU when there is one)"
        )


def rebuild_metrics_log(
    run_dir: str | os.PathLike[str], *, write: bool = True
) -> list[dict[str, Any]]:
    """Rewrite ``metrics.jsonl`` from the finished cycles' files (idempotent).

    A cycle is finished when its last stage's file exists (``pool/`` or, for the last
    cycle, ``metrics.json``). Returns the records written (only read with ``write=False``).
    """
    rd = RunDir(run_dir)
    cfg = read_run_config(rd.config)
    records = []
    for c in range(cfg.cycles + 1):
        if not rd.finished(c, cfg.cycles):
            break
        m = read_json(rd.metrics(c))
        rec = {k: v for k, v in m.items() if k != "coco"}
        sel = read_selection(rd.selection(c)) if rd.selection(c).is_file() else None
        rec["selected_objects"] = sel.spent if sel else 0
        names = sel.category_names() if sel else {}
        rec["selected_categories"] = (
            {names.get(k, str(k)): v for k, v in sel.category_distribution().items()} if sel else {}
        )
        rec["strategy"] = cfg.strategy.name
        rec["label"] = cfg.label
        rec["seed"] = cfg.seed
        records.append(rec)
    if write:
        atomic_write_text(rd.metrics_log, "".join(json.dumps(r) + "\n" for r in records))
    return records


def log_timing(rd: RunDir, stage_file: Path, seconds: float) -> None:
    """Append ``{"stage", "cycle", "seconds"}`` for the stage that wrote ``stage_file``
    to ``rd.timings`` (``cycle`` is ``null`` for the initial pool). Wall time, a record
    of where a run's time went: never read back by a run, so the figures stay
    reproducible while the timings are not."""
    rel = stage_file.relative_to(rd.root).parts
    cycle = int(rel[0].split("_")[1]) if len(rel) > 1 and rel[0].startswith("cycle_") else None
    stage = STAGE_OF_FILE.get(rel[-1], rel[-1])
    line = json.dumps({"stage": stage, "cycle": cycle, "seconds": round(seconds, 3)})
    with open(rd.timings, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def run_loop(
    cfg: RunConfig, run_dir: str | os.PathLike[str], *, progress: bool = True
) -> list[dict[str, Any]]:
    """Run (or resume) one seed's active-learning loop in ``run_dir``; returns the log."""
    if len(cfg.seeds) != 1:
        raise ConfigError("run_loop runs one seed; use run_config for several")
    from tqdm.auto import tqdm

    rd = RunDir(run_dir)
    check_config(cfg)  # every value, before anything is written
    check_folders(cfg, rd.root)
    with claimed_run_folder(rd.root):
        _deterministic(cfg)
        dist = _dist()

        def prepare() -> None:  # the folder and a synthetic dataset, made once by rank 0
            rd.root.mkdir(parents=True, exist_ok=True)
            s = cfg.dataset
            if s.synthetic is not None:
                ensure_synthetic(cfg, Path(s.synthetic_dir) if s.synthetic_dir else rd.data)

        def record() -> None:
            _write_config(cfg, rd.root)
            rebuild_metrics_log(rd.root)

        _rank0_first(dist, prepare)
        run = _Run(cfg, rd, progress, dist)
        _rank0_first(dist, record)
        run.stage(rd.initial_pool, lambda p: _initial_pool(cfg, run.train_ds).save(p))
        bar = tqdm(
            range(cfg.cycles + 1),
            desc=f"{cfg.label} seed {cfg.seed}",
            unit="cycle",
            disable=not progress or dist.rank != 0,
        )
        for c in bar:
            run.cycle(c)
        return rebuild_metrics_log(rd.root, write=dist.rank == 0)


@contextlib.contextmanager
def claimed_run_folder(root: Path) -> Iterator[Path]:
    """Hold ``root`` as this process's run folder: new, empty or mural's, and locked.

    A folder holding files mural did not write is refused (nothing written there); a run
    folder another process is writing is refused (:func:`mural.io.folder_lock`). Holding
    the lock, the temporary files a killed run left are removed. Under ``torchrun`` only
    rank 0 (``RANK``) locks and cleans; the other ranks follow it.
    """
    if _rank() != 0:
        yield root
        return
    claim_folder(root, "run", legacy=is_run_folder, check_only=True)
    with folder_lock(root, what="run folder"):
        claim_folder(root, "run", legacy=is_run_folder)
        remove_stale_temps(root, partial=True)
        yield root


def run_config(
    cfg: RunConfig, run_dir: str | os.PathLike[str], *, progress: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """Run every seed of ``cfg``: in ``run_dir`` itself for one seed, else ``seed_<s>/``."""
    rd = RunDir(run_dir)
    if len(cfg.seeds) == 1:
        return {cfg.seed: run_loop(cfg, rd.root, progress=progress)}
    for s in cfg.seeds:
        check_config(replace(cfg, seeds=[s]))
    with claimed_run_folder(rd.root):
        return {
            s: run_loop(replace(cfg, seeds=[s]), rd.seed(s).root, progress=progress)
            for s in cfg.seeds
        }


def _deterministic(cfg: RunConfig) -> None:
    """Deterministic torch kernels (CPU runs are then bit-reproducible)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg.device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

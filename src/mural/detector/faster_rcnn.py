"""torchvision's Faster R-CNN as a :class:`Detector`, with the parts MuRAL needs.

The parts (:mod:`mural.detector.parts`) are torchvision subclasses passed to or built
beside torchvision's ``FasterRCNN`` constructor:

1. **No internal resize** (:class:`NoResizeTransform`), in training and inference alike.
   Inference resizes each image itself to exactly :func:`mural.core.scaled_size` of every
   requested scale, so the network sees that resolution and boxes come out in scaled
   pixels; training samples arrive already at the detector's scale
   (:class:`mural.data.samples.TrainingSamples` resizes every sample, full image or region
   window, at ``(min_size, max_size)``). Normalisation and padding to a multiple of 32 are
   kept.
2. **Class probabilities and proposals are kept** (:class:`ProbRoIHeads`): with each kept
   detection, the softmax row of the proposal it came from (``C + 1`` values, background
   last), the proposal's index and box. By default each proposal gives at most one
   detection, its most probable foreground class (``multi_label=False``), so
   ``label == argmax(probs[:C])`` and ``score == probs[label]``; ``multi_label=True`` is
   torchvision's rule (one detection per class above the threshold).
3. **RoIAlign scales from the padded batch** (:class:`PaddedRoIAlign`): torchvision's
   ``MultiScaleRoIAlign`` infers each level's stride once, from the *first* batch's
   largest unpadded image, and caches it; for small images (and for a model whose first
   batch differed, e.g. after loading) that rounds to the wrong power of two.
4. **Loss-level ignore** (:class:`IgnoreAwareRPN`, :class:`ProbRoIHeads`): a training
   target's ``ignore_boxes`` ``(M, 4)`` (xyxy, pixels of the image tensor) make anchors
   and proposals that would be negatives but lie at least half inside one of them
   neither positive nor negative (:func:`mural.detector.parts.ignore_negatives`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator

from ..data.samples import MultiScaleImages
from ..detections import DEFAULT_SCORE_THRESHOLD, Detections, ScaleDetections
from ..errors import ConfigError
from ..io import atomic_open
from . import distributed as mdist
from .backbones import anchors_for, build_backbone, get_backbone, known_backbones
from .base import CHECKPOINT_FORMAT, Detector, register_detector
from .parts import (
    SIZE_DIVISIBLE,
    IgnoreAwareRPN,
    NoResizeTransform,
    PaddedRoIAlign,
    ProbRoIHeads,
)
from .training import TrainOptions, train
from .views import ViewPredictor

if TYPE_CHECKING:
    from ..data.coco import CocoDataset

__all__ = [
    "FasterRCNNDetector",
    "IgnoreAwareRPN",
    "NoResizeTransform",
    "PaddedRoIAlign",
    "ProbRoIHeads",
]


@register_detector("faster_rcnn")
class FasterRCNNDetector(Detector):
    """torchvision Faster R-CNN (FPN), paper defaults: ``resnet50_fpn``, ImageNet backbone.

    Args:
        num_classes: ``C`` foreground classes (the dataset's).
        backbone: ``resnet50_fpn`` (paper), ``resnet18_fpn``, ``mobilenet_v3_fpn``,
            ``efficientnet_lite{0,1,2}_fpn`` or a name given to
            :func:`mural.detector.register_backbone`.
        backbone_weights: ``"none"`` (seeded random init), ``"imagenet"`` (see
            :mod:`mural.detector.backbones` for where each backbone's come from) or a
            ``.pth`` path.
        pretrained: build the backbone as a pretrained one (frozen batch norm, the
            pretrained default of ``trainable_layers``); default: ``backbone_weights`` is
            not ``"none"``. Stored with the model, so a loaded detector keeps its frozen
            batch norms (its weights come from the file).
        min_size, max_size: the detector's scale: :meth:`predict`'s default, and the scale
            the loop's training samples are resized at.
        anchor_sizes, aspect_ratios: RPN anchors (default: the backbone's).
        representation_size: width of the box head's two MLP layers (torchvision: 1024).
        fpn_channels: width of the FPN (ResNet backbones; torchvision: 256).
        rpn_pre_nms_top_n, rpn_post_nms_top_n: RPN proposals kept per image before and
            after NMS, ``(training, testing)`` (torchvision: ``(2000, 1000)`` both).
        box_batch_size_per_image: RoIs sampled per image for the box head's loss
            (torchvision: 512). Smaller values speed up CPU training a lot.
        image_mean, image_std: input normalisation (default: the backbone's, i.e. what its
            ImageNet weights were trained with).
        class_names: stored with the model, for reports.
        seed: seeds the random initialisation.
        device: where the model lives: ``"cpu"`` (default), ``"cuda"`` (this process's GPU
            under ``torchrun``), ``"cuda:N"`` or ``"auto"`` (``"cuda"`` when present).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        backbone: str = "resnet50_fpn",
        backbone_weights: str = "none",
        trainable_layers: int | None = None,
        pretrained: bool | None = None,
        min_size: int = 800,
        max_size: int = 1333,
        anchor_sizes: Sequence[Any] | None = None,
        aspect_ratios: Sequence[float] | None = None,
        representation_size: int = 1024,
        fpn_channels: int | None = None,
        rpn_pre_nms_top_n: Sequence[int] = (2000, 1000),
        rpn_post_nms_top_n: Sequence[int] = (2000, 1000),
        box_batch_size_per_image: int = 512,
        detections_per_img: int = 100,
        nms_thresh: float = 0.5,
        multi_label: bool = False,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        download: bool = False,
    ) -> None:
        self.num_classes = int(num_classes)
        if class_names is not None and len(class_names) != self.num_classes:
            raise ConfigError(
                f"detector: {len(class_names)} class names for {self.num_classes} classes"
            )
        self.class_names = list(class_names) if class_names is not None else None
        self.config: dict[str, Any] = dict(
            backbone=backbone,
            trainable_layers=trainable_layers,
            pretrained=backbone_weights not in ("none", "", None)
            if pretrained is None
            else bool(pretrained),
            min_size=int(min_size),
            max_size=int(max_size),
            anchor_sizes=None
            if anchor_sizes is None
            else [list(a) if isinstance(a, (list, tuple)) else int(a) for a in anchor_sizes],
            aspect_ratios=None if aspect_ratios is None else [float(r) for r in aspect_ratios],
            representation_size=int(representation_size),
            fpn_channels=None if fpn_channels is None else int(fpn_channels),
            rpn_pre_nms_top_n=[int(v) for v in rpn_pre_nms_top_n],
            rpn_post_nms_top_n=[int(v) for v in rpn_post_nms_top_n],
            box_batch_size_per_image=int(box_batch_size_per_image),
            detections_per_img=int(detections_per_img),
            nms_thresh=float(nms_thresh),
            multi_label=bool(multi_label),
            # the backbone's own normalisation unless given; stored resolved with the model
            image_mean=[float(v) for v in (image_mean or get_backbone(backbone).image_mean)],
            image_std=[float(v) for v in (image_std or get_backbone(backbone).image_std)],
            seed=int(seed),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.model = self._build(backbone_weights, download)
        self.to(device)

    # ------------------------------------------------------------------ model
    def _build(self, weights: str, download: bool) -> FasterRCNN:
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
        from torchvision.models.detection.rpn import RPNHead

        c = self.config
        body, spec = build_backbone(
            c["backbone"],
            weights,
            c["trainable_layers"],
            download=download,
            fpn_channels=c.get("fpn_channels"),
            pretrained=c.get("pretrained"),
        )
        pre = c.get("rpn_pre_nms_top_n", (2000, 1000))
        post = c.get("rpn_post_nms_top_n", (2000, 1000))
        if len(pre) != 2 or len(post) != 2 or min(*pre, *post) < 1:
            raise ConfigError(
                "detector: rpn_pre_nms_top_n and rpn_post_nms_top_n take two positive "
                f"integers (training, testing); got {pre} and {post}"
            )
        sizes, ratios = anchors_for(spec, c["anchor_sizes"], c["aspect_ratios"])
        rep = c["representation_size"]
        res = 7  # RoIAlign output
        anchors = AnchorGenerator(sizes, ratios)
        # Built in the order torchvision's constructor would (box head, predictor, then the
        # RPN head), so a seed gives the same initial weights as before.
        channels = cast(int, body.out_channels)  # every backbone builder sets an int
        box_head = TwoMLPHead(channels * res * res, rep)
        box_predictor = FastRCNNPredictor(rep, self.num_classes + 1)
        rpn_head = RPNHead(channels, anchors.num_anchors_per_location()[0])
        model = FasterRCNN(
            body,
            num_classes=None,
            min_size=c["min_size"],
            max_size=c["max_size"],
            image_mean=c["image_mean"],
            image_std=c["image_std"],
            rpn_anchor_generator=anchors,
            rpn_head=rpn_head,
            box_roi_pool=PaddedRoIAlign(["0", "1", "2", "3"], output_size=res, sampling_ratio=2),
            box_head=box_head,
            box_predictor=box_predictor,
            box_detections_per_img=c["detections_per_img"],
            box_nms_thresh=c["nms_thresh"],
            rpn_pre_nms_top_n_train=pre[0],
            rpn_pre_nms_top_n_test=pre[1],
            rpn_post_nms_top_n_train=post[0],
            rpn_post_nms_top_n_test=post[1],
            box_batch_size_per_image=c.get("box_batch_size_per_image", 512),
        )
        # FasterRCNN takes no argument for the transform, the RPN or the RoI heads
        # themselves (only for their parts): it builds torchvision's classes. Rebuild the
        # three from the same parts and settings as mural's subclasses and assign them to
        # the documented attributes (GeneralizedRCNN.transform / .rpn / .roi_heads).
        model.transform = NoResizeTransform(
            c["min_size"],
            c["max_size"],
            c["image_mean"],
            c["image_std"],
            size_divisible=SIZE_DIVISIBLE,
        )
        model.rpn = IgnoreAwareRPN.from_rpn(model.rpn)
        model.roi_heads = ProbRoIHeads.from_heads(model.roi_heads, multi_label=c["multi_label"])
        return model

    def to(self, device: str | torch.device) -> FasterRCNNDetector:
        self.device = mdist.resolve_device(device)
        self.model.to(self.device)
        return self

    # ------------------------------------------------------------- save/load
    def _state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "name": self.name,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "config": self.config,
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights + config (tensors and plain types only) atomically."""
        with atomic_open(path, "wb") as fh:
            torch.save(self._state(), fh)

    @classmethod
    def _from_state(cls, state: dict[str, Any], **options: Any) -> FasterRCNNDetector:
        cfg = dict(state["config"])
        cfg.update(options)
        det = cls(state["num_classes"], class_names=state.get("class_names"), **cfg)
        det.model.load_state_dict(state["state_dict"])
        return det

    # --------------------------------------------------------------- predict
    def _check_classes(self, dataset: CocoDataset) -> None:
        if dataset.num_classes != self.num_classes:
            raise ConfigError(
                f"detector: model has {self.num_classes} classes, dataset "
                f"{dataset.path or ''} has {dataset.num_classes}"
            )

    @torch.inference_mode()
    def predict(
        self,
        dataset: CocoDataset,
        image_ids: Sequence[int] | None = None,
        scales: Sequence[Sequence[int]] | None = None,
        *,
        batch_size: int = 2,
        workers: int = 0,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        out_path: str | os.PathLike[str] | None = None,
        progress: bool = False,
    ) -> Detections:
        """Detect on ``image_ids`` (default: all of ``dataset``) at every scale.

        Each image is decoded once, resized to exactly ``scaled_size`` of each scale and
        fed at that size. Under ``torchrun`` every rank predicts ``image_ids[rank::world]``;
        the shards are gathered (every rank returns the merged result, in ``image_ids``
        order) and only rank 0 writes ``out_path``; the others wait at a barrier.
        """
        self._check_classes(dataset)
        ids = [int(i) for i in (dataset.image_ids() if image_ids is None else image_ids)]
        scale_list = [
            (int(a), int(b))
            for a, b in (scales or [(self.config["min_size"], self.config["max_size"])])
        ]
        if batch_size < 1:
            raise ConfigError(f"detector: batch_size must be >= 1, got {batch_size}")
        info = mdist.get_info()
        mine = mdist.shard(ids, info)
        loader = torch.utils.data.DataLoader(
            MultiScaleImages(dataset, mine, scale_list),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=list,
            pin_memory=self.device.type == "cuda",
        )
        model = self.model
        was_training = model.training
        model.eval()
        heads = model.roi_heads
        old_thresh = heads.score_thresh
        heads.score_thresh = float(score_threshold)
        results: dict[int, list[tuple[np.ndarray, ...]]] = {}
        bar = None
        if progress and info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=len(mine), desc="predict", unit="img")
        try:
            for batch in loader:
                per_scale_out = []
                for s in range(len(scale_list)):
                    images = [imgs[s].to(self.device, non_blocking=True) for _, imgs in batch]
                    per_scale_out.append(model(images))
                for j, (image_id, _) in enumerate(batch):
                    results[image_id] = [
                        (
                            o[j]["boxes"].float().cpu().numpy(),
                            o[j]["scores"].float().cpu().numpy(),
                            (o[j]["labels"] - 1).cpu().numpy().astype(np.int64),
                            o[j]["probs"].float().cpu().numpy(),
                        )
                        for o in per_scale_out
                    ]
                if bar is not None:
                    bar.update(len(batch))
        finally:
            heads.score_thresh = old_thresh
            model.train(was_training)
            if bar is not None:
                bar.close()
        merged: dict[int, list[tuple[np.ndarray, ...]]] = {}
        for part in mdist.all_gather_objects(results):  # every rank's share
            merged.update(part)
        dets = self._assemble(dataset, ids, scale_list, merged)
        if out_path is not None:
            if info.is_main:
                dets.save(out_path)
            mdist.barrier()
        return dets

    def predict_views(
        self,
        dataset: CocoDataset,
        image_ids: Sequence[int],
        transform: str = "none",
        *,
        seed: int = 0,
        scale: Sequence[int] | None = None,
        batch_size: int = 2,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        reference: Sequence[NDArray[Any]] | None = None,
    ) -> list[dict[str, NDArray[Any]]]:
        """See :meth:`Detector.predict_views`; views are resized to ``scale`` (default
        ``(min_size, max_size)``)."""
        self._check_classes(dataset)
        sc = (self.config["min_size"], self.config["max_size"]) if scale is None else scale
        views = ViewPredictor(
            self.model,
            dataset,
            device=self.device,
            batch_size=batch_size,
            scale=sc,
            score_threshold=score_threshold,
        )
        return views.predict_views(image_ids, transform, seed=seed, reference=reference)

    def _assemble(
        self,
        dataset: CocoDataset,
        ids: list[int],
        scales: list[tuple[int, int]],
        results: dict[int, list[tuple[np.ndarray, ...]]],
    ) -> Detections:
        sizes = [(dataset.image(i).height, dataset.image(i).width) for i in ids]
        out = Detections(num_classes=self.num_classes)
        for s, scale in enumerate(scales):
            parts = [results[i][s] for i in ids]
            out.per_scale.append(
                ScaleDetections.from_images(scale, ids, sizes, parts, self.num_classes)
            )
        return out

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        train_dataset: Any,
        *,
        epochs: int = 20,
        out_dir: str | os.PathLike[str] | None = None,
        resume: bool = True,
        **options: Any,
    ) -> list[dict[str, float]]:
        """Train on this detector's device; ``options`` are the fields of
        :class:`mural.detector.training.TrainOptions` and ``on_epoch_end``."""
        on_epoch_end = options.pop("on_epoch_end", None)
        opts = TrainOptions.from_dict({"epochs": epochs, **options})
        return train(
            self.model,
            train_dataset,
            opts,
            device=self.device,
            out_dir=out_dir,
            resume=resume,
            on_epoch_end=on_epoch_end,
        )

    # ---------------------------------------------------------------- config
    #: ``detector.options`` a run configuration may set: the constructor's keywords but
    #: those the configuration sets itself (``backbone``, ``backbone_weights``,
    #: ``min_size``, ``max_size``, ``class_names``, ``seed``, ``device``).
    OPTION_KEYS: ClassVar[tuple[str, ...]] = (
        "anchor_sizes",
        "aspect_ratios",
        "box_batch_size_per_image",
        "detections_per_img",
        "download",
        "fpn_channels",
        "image_mean",
        "image_std",
        "multi_label",
        "nms_thresh",
        "pretrained",
        "representation_size",
        "rpn_post_nms_top_n",
        "rpn_pre_nms_top_n",
        "trainable_layers",
    )

    @classmethod
    def check_config(
        cls, *, backbone: str, options: Mapping[str, Any], train_options: Mapping[str, Any]
    ) -> None:
        """The backbone is registered, ``options`` are constructor keywords, and the
        training options are :class:`~mural.detector.training.TrainOptions` fields."""
        if backbone not in known_backbones():
            raise ConfigError(
                f"config key 'detector.backbone': unknown backbone {backbone!r}; "
                f"known: {', '.join(known_backbones())}"
            )
        for key in options:
            if key not in cls.OPTION_KEYS:
                raise ConfigError(
                    f"config key 'detector.options.{key}': unknown; "
                    f"accepted: {', '.join(cls.OPTION_KEYS)}"
                )
        super().check_config(backbone=backbone, options=options, train_options=train_options)

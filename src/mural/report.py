"""Reports over finished (or running) runs: the paper's figures and tables, one HTML page.

:func:`write_report` reads run folders (``metrics.jsonl``, ``config.yaml`` and the cycles'
``selection.json``), groups them by label (the config's ``name``, else the strategy name)
and writes into ``out_dir``:

- ``map_vs_objects.png``: mAP and AP50 against labelled objects added after the initial
  set, one line per label, mean ± std over seeds as a band (paper Fig. 4/5);
- ``category_distribution.png``: the share of every category among all objects each
  label selected (paper Fig. 6);
- ``regions.png``: a few images with the windows of the last cycle's selection of a
  region strategy, coloured by scale (paper Fig. 1c);
- ``index.html``: everything above (PNG as base64 data URIs) plus the tables: mAP against
  objects per cycle, per-class AP of the last cycle (paper Tab. 3), selected objects per
  category. The page is self-contained (no external file).

matplotlib runs with the Agg backend; nothing here needs torch.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .io import atomic_write_bytes, atomic_write_text
from .rundir import RunDir
from .selection import read_selection
from .stats import mean_std
from .summary import cycle_matrix, summarise

__all__ = [
    "RunData",
    "difficult_classes",
    "find_runs",
    "group_runs",
    "mean_std_curve",
    "plot_class_objects",
    "text_table",
    "write_report",
]

#: Colours of scales 0, 1, 2, ... in region figures.
SCALE_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#a65628")


@dataclass
class RunData:
    """One run folder: its label, seed, metrics records and (if readable) its config."""

    path: Path
    label: str
    seed: int
    records: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)

    def selections(self) -> list[tuple[int, dict[str, Any]]]:
        """``(cycle, selection.json)`` of every cycle that has one, in cycle order (the
        document's picks under ``"items"``)."""
        out = []
        rd = RunDir(self.path)
        for c in rd.cycles():
            f = rd.selection(c)
            if f.is_file():
                doc = read_selection(f).to_json()
                doc["items"] = doc.pop(doc["kind"])  # the picks, whatever their kind
                out.append((c, doc))
        return out


def _read_run(path: Path) -> RunData:
    rd = RunDir(path)
    mpath = rd.metrics_log
    fix = "(fix: rerun the same mural run command, which rewrites it from the cycle files)"
    records: list[dict[str, Any]] = []
    for n, line in enumerate(mpath.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"{mpath}: line {n}: not a JSON record ({exc}) {fix}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("added_objects"), (int, float)):
            raise DataError(f"{mpath}: line {n}: not a mural metrics record {fix}")
        records.append(rec)
    config: dict[str, Any] = {}
    if rd.config.is_file():
        import yaml

        try:
            config = yaml.safe_load(rd.config.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{rd.config}: damaged, not valid YAML "
                f"({' '.join(str(exc).split())}) (fix: restore the file mural wrote)"
            ) from None
        if not isinstance(config, dict):
            raise DataError(f"{rd.config}: damaged (fix: restore the file mural wrote)")
    first = records[0] if records else {}
    label = first.get("label") or config.get("name") or first.get("strategy")
    if not label:
        label = (config.get("strategy") or {}).get("name") or path.name
    try:
        seed = int(first.get("seed", (config.get("seeds") or [0])[0]))
    except (TypeError, ValueError):
        raise DataError(f"{mpath}: line 1: field 'seed' is not an integer {fix}") from None
    return RunData(path, str(label), seed, records, config)


def find_runs(paths: Iterable[str | os.PathLike[str]]) -> list[RunData]:
    """Every run under ``paths``: a folder with ``metrics.jsonl``, or any below it."""
    runs = []
    for p in paths:
        root = Path(p)
        if not root.is_dir():
            raise DataError(f"{root}: no such run folder")
        found = (
            [root]
            if RunDir(root).is_run()
            else sorted(f.parent for f in root.rglob(RunDir(root).metrics_log.name))
        )
        if not found:
            raise DataError(f"{root}: holds no run (no metrics.jsonl in it or below it)")
        runs += [_read_run(f) for f in found]
    return runs


def group_runs(runs: Sequence[RunData]) -> dict[str, list[RunData]]:
    """Runs by label, labels in first-seen order, seeds sorted inside a label."""
    out: dict[str, list[RunData]] = {}
    for r in runs:
        out.setdefault(r.label, []).append(r)
    return {k: sorted(v, key=lambda r: r.seed) for k, v in out.items()}


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample std and count of the finite ``values`` (:func:`mural.stats.mean_std`)."""
    m, s, n = mean_std(np.reshape(values, (-1, 1)))
    return float(m[0]), float(s[0]), int(n[0])


def mean_std_curve(
    group: Sequence[RunData], key: str = "mAP"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cycle index: mean added objects, mean and std of ``key`` over the runs having
    that cycle, and how many runs that is.

    Returns:
        ``(x, mean, std, n)``, each ``(K,)`` with ``K`` the longest run's cycle count;
        ``std`` is the sample standard deviation (0 for a single run).
    """
    k = max((len(r.records) for r in group), default=0)
    x, _, _ = mean_std(cycle_matrix(group, "added_objects", k))
    m, s, _ = mean_std(cycle_matrix(group, key, k))
    n = np.array([sum(len(r.records) > i for r in group) for i in range(k)])
    return x, m, s, n


def _fmt(mean: float, std: float, n: int, pct: bool = True) -> str:
    if not math.isfinite(mean):
        return "–"
    f = 100.0 if pct else 1.0
    return f"{f * mean:.1f} ± {f * std:.1f}" if n > 1 else f"{f * mean:.1f}"


def text_table(groups: dict[str, list[RunData]]) -> str:
    """mAP (%) against added objects per cycle, one column per label (mean ± std)."""
    labels = list(groups)
    curves = {g: mean_std_curve(groups[g]) for g in labels}
    k = max((len(c[0]) for c in curves.values()), default=0)
    head = ["cycle"] + [f"{g}: objects / mAP" for g in labels]
    rows = []
    for i in range(k):
        row = [str(i)]
        for g in labels:
            x, m, s, n = curves[g]
            row.append(f"{x[i]:.0f} / {_fmt(m[i], s[i], int(n[i]))}" if i < len(x) else "")
        rows.append(row)
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------- figures


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data


def plot_curves(groups: dict[str, list[RunData]], path: Path) -> bytes:
    """mAP and AP50 (%) against added objects, mean ± std bands (Fig. 4/5)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    several = any(len(g) > 1 for g in groups.values())
    for ax, key in zip(axes, ("mAP", "AP50"), strict=True):
        for j, (label, group) in enumerate(groups.items()):
            x, m, s, _ = mean_std_curve(group, key)
            colour = f"C{j % 10}"
            seeds = len(group)
            ax.plot(
                x,
                100 * m,
                "o-",
                color=colour,
                ms=4,
                label=f"{label} ({seeds} seed{'s' if seeds > 1 else ''})",
            )
            if seeds > 1:
                ax.fill_between(x, 100 * (m - s), 100 * (m + s), color=colour, alpha=0.2, lw=0)
        ax.set_xlabel("objects labelled after the initial set")
        ax.set_ylabel(f"{key} (%)")
        ax.set_title(f"{key} against annotation cost" + (" (mean ± std)" if several else ""))
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(
        handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=9, frameon=False
    )
    return _save(fig, path)


def _category_totals(group: Sequence[RunData]) -> dict[str, float]:
    """Mean (over seeds) selected objects per category, summed over cycles."""
    tot: dict[str, float] = {}
    for r in group:
        for rec in r.records:
            for cat, v in (rec.get("selected_categories") or {}).items():
                tot[cat] = tot.get(cat, 0.0) + float(v) / len(group)
    return tot


def _class_order(groups: dict[str, list[RunData]]) -> list[str]:
    names: list[str] = []
    for group in groups.values():
        for r in group:
            for rec in r.records:
                for c in list(rec.get("per_class_AP") or {}) + list(
                    rec.get("selected_categories") or {}
                ):
                    if c not in names:
                        names.append(c)
    return names


def _category_shares(group: Sequence[RunData], classes: Sequence[str]) -> np.ndarray:
    """``(S, C)`` share (%) of each class among the objects each of the ``S`` runs selected
    over all cycles (a row of zeros for a run that selected nothing)."""
    out = np.zeros((len(group), len(classes)))
    for i, r in enumerate(group):
        tot = _category_totals([r])
        total = sum(tot.values())
        if total:
            out[i] = [100 * tot.get(c, 0.0) / total for c in classes]
    return out


def plot_categories(groups: dict[str, list[RunData]], path: Path) -> bytes:
    """Share (%) of each category among the selected objects, bars grouped by label;
    error bars: std over seeds (Fig. 6)."""
    plt = _plt()
    classes = _class_order(groups)
    labels = list(groups)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(classes) + 2), 4.2))
    width = 0.8 / max(1, len(labels))
    xs = np.arange(len(classes))
    for j, label in enumerate(labels):
        shares = _category_shares(groups[label], classes)
        n = len(groups[label])
        ax.bar(
            xs + (j - (len(labels) - 1) / 2) * width,
            shares.mean(axis=0),
            width,
            yerr=shares.std(axis=0, ddof=1) if n > 1 else None,
            capsize=2,
            label=f"{label} ({n} seed{'s' if n > 1 else ''})",
            color=f"C{j % 10}",
        )
    rotate = len(classes) > 6
    ax.set_xticks(xs, classes, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_xlabel("category")
    ax.set_ylabel("share of selected objects (%)")
    ax.set_title("Selected category distribution (all cycles)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, path)


def _train_dataset(run: RunData) -> Any:
    """The run's training dataset, or ``None`` when its files cannot be found."""
    from .data.coco import CocoDataset

    d = run.config.get("dataset") or {}
    try:
        if d.get("synthetic"):
            root = Path(d.get("synthetic_dir") or RunDir(run.path).data)
            if not (root / "train.json").is_file():
                return None
            return CocoDataset.load(root / "train.json", root / "images", check_images=False)
        if d.get("train") and Path(d["train"]).is_file():
            return CocoDataset.load(d["train"], d.get("train_images"), check_images=False)
    except DataError:
        return None
    return None


def _region_panels(
    sel: dict[str, Any], per_scale: int
) -> list[tuple[int, tuple[int, int], list[tuple[int, list[dict[str, Any]]]]]]:
    """Rows of the region figure: ``(scale_index, scale, [(image_id, items), ...])`` per
    scale, sorted by scale index, with up to ``per_scale`` images each: the images whose
    windows at that scale labelled the most new objects (then the highest score)."""
    rows = []
    by_scale: dict[tuple[int, tuple[int, int]], dict[int, list[dict[str, Any]]]] = {}
    for it in sel["items"]:
        key = (int(it["scale_index"]), (int(it["scale"][0]), int(it["scale"][1])))
        by_scale.setdefault(key, {}).setdefault(int(it["image_id"]), []).append(it)
    for (si, sc), images in sorted(by_scale.items()):
        ranked = sorted(
            images.items(),
            key=lambda kv: (
                -sum(len(i["new_objects"]) for i in kv[1]),
                -max(float(i.get("score", 0.0)) for i in kv[1]),
                kv[0],
            ),
        )
        rows.append((si, sc, ranked[:per_scale]))
    return rows


def plot_regions(run: RunData, path: Path, per_scale: int = 3) -> bytes | None:
    """The last cycle's selected windows of ``run`` on their images (Fig. 1c): one row per
    scale, up to ``per_scale`` images each; windows in original pixels (grey where a window
    passes the image's edge), the objects it newly labelled outlined in white."""
    from .core.geometry import RegionFrame
    from .data.images import read_rgb, to_array

    sels = [(c, s) for c, s in run.selections() if s.get("kind") == "regions" and s["items"]]
    ds = _train_dataset(run)
    if not sels or ds is None:
        return None
    cycle, sel = sels[-1]
    rows = _region_panels(sel, per_scale)
    ncols = max(len(images) for _, _, images in rows)
    plt = _plt()
    import matplotlib.patheffects as pe
    from matplotlib.patches import Patch, Rectangle

    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(3.3 * ncols + 0.6, 3.3 * len(rows) + 0.9), squeeze=False
    )
    outline = [pe.Stroke(linewidth=2.4, foreground="black"), pe.Normal()]
    for r, (si, sc, images) in enumerate(rows):
        colour = SCALE_COLOURS[si % len(SCALE_COLOURS)]
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(images):
                ax.axis("off")
                continue
            iid, items = images[c]
            info = ds.image(iid)
            try:
                img = to_array(read_rgb(ds.image_path(iid)))
            except DataError:
                img = np.full((info.height, info.width, 3), 200, np.uint8)
            ax.set_facecolor("#d9d9d9")  # padding: window area outside the image
            ax.imshow(img, extent=(0, info.width, info.height, 0), interpolation="nearest")
            ax.add_patch(Rectangle((0, 0), info.width, info.height, fill=False, ec="black", lw=0.8))
            ids = ds.ann_ids(iid).tolist()
            boxes = ds.boxes_xyxy(iid)
            lo_x, lo_y, hi_x, hi_y = 0.0, 0.0, float(info.width), float(info.height)
            new = 0
            for it in items:
                win = RegionFrame.at((info.height, info.width), sc, it["window"])
                x0, y0, x1, y1 = win.window_in_original()
                lo_x, lo_y, hi_x, hi_y = min(lo_x, x0), min(lo_y, y0), max(hi_x, x1), max(hi_y, y1)
                for _, ann in it["new_objects"]:
                    if int(ann) in ids:  # its box clipped to the window, as labelled (contract §5)
                        bx0, by0, bx1, by1 = boxes[ids.index(int(ann))]
                        bx0, by0, bx1, by1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
                        ax.add_patch(
                            Rectangle(
                                (bx0, by0),
                                bx1 - bx0,
                                by1 - by0,
                                fill=False,
                                ec="white",
                                lw=1.0,
                                path_effects=outline,
                            )
                        )
                new += len(it["new_objects"])
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=2.5, ec=colour))
            pad = 0.03 * max(hi_x - lo_x, hi_y - lo_y)
            ax.set_xlim(lo_x - pad, hi_x + pad)
            ax.set_ylim(hi_y + pad, lo_y - pad)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(
                f"image {iid}: {len(items)} window{'s' if len(items) > 1 else ''}, "
                f"{new} new object{'s' if new != 1 else ''}",
                fontsize=9,
            )
            if c == 0:
                ax.set_ylabel(f"scale {si}\n({sc[0]}, {sc[1]})", color=colour, fontsize=10)
    handles = [
        Patch(fill=False, ec=SCALE_COLOURS[si % len(SCALE_COLOURS)], lw=2.5, label=f"scale {si}")
        for si, _, _ in rows
    ]
    handles += [
        Patch(fill=False, ec="black", lw=1.0, label="newly labelled object (white box)"),
        Patch(fc="#d9d9d9", ec="black", lw=0.8, label="outside the image (padding)"),
    ]
    fig.suptitle(
        f"{run.label} (seed {run.seed}): regions selected in cycle {cycle}, by scale",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    return _save(fig, path)


# --------------------------------------------------------------------------- HTML


def _img(data: bytes, alt: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    bold: Sequence[set[int]] = (),
    left: Collection[int] = (0,),
    rule: Sequence[bool] = (),
) -> str:
    """An HTML table; columns in ``left`` are text (left-aligned), the others numbers;
    ``rule[i]`` draws a line above row ``i``; ``bold[i]`` holds the bold columns of row ``i``."""

    def cls(j: int) -> str:
        return ' class="t"' if j in left else ""

    out = [
        '<div class="scroll"><table>',
        "<tr>"
        + "".join(f"<th{cls(j)}>{html.escape(h)}</th>" for j, h in enumerate(head))
        + "</tr>",
    ]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            text = html.escape(c)
            if i < len(bold) and j in bold[i]:
                text = f"<b>{text}</b>"
            cells.append(f"<td{cls(j)}>{text}</td>")
        tr = '<tr class="sep">' if i < len(rule) and rule[i] else "<tr>"
        out.append(tr + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _last_common(group: Sequence[RunData]) -> list[dict[str, Any]]:
    """Each run's record at the last cycle every run of the group reached."""
    k = min(len(r.records) for r in group)
    return [r.records[k - 1] for r in group] if k else []


def _evaluated_classes(groups: dict[str, list[RunData]]) -> list[str]:
    """Classes with a per-class AP in some label's last common cycle, in first-seen order."""
    return [
        c
        for c in _class_order(groups)
        if any(
            c in (rec.get("per_class_AP") or {}) for g in groups.values() for rec in _last_common(g)
        )
    ]


def _class_ap(group: Sequence[RunData], name: str) -> float:
    """Mean over the group's seeds of class ``name``'s AP at the last common cycle."""
    aps = [_num((r.get("per_class_AP") or {}).get(name)) for r in _last_common(group)]
    return _mean_std(aps)[0]


def difficult_classes(groups: dict[str, list[RunData]], below: float = 0.30) -> list[str]:
    """Classes whose AP at the last cycle is below ``below`` (paper Tab. 3: 30 % on COCO):
    the mean over labels of each label's seed-mean AP, so no strategy picks the list."""
    return [
        c
        for c in _evaluated_classes(groups)
        if _mean_std([_class_ap(g, c) for g in groups.values()])[0] < below
    ]


def _per_class_rows(
    groups: dict[str, list[RunData]], classes: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """Tab. 3: the mAP row, then one row per class (``classes``, default all evaluated);
    cells mean ± std over seeds at the last common cycle; bold cells the best label."""
    labels = list(groups)
    if classes is None:
        classes = _evaluated_classes(groups)
    rows, bold = [], []
    for name, getter in [("mAP", lambda rec: rec.get("mAP"))] + [
        (c, (lambda rec, c=c: (rec.get("per_class_AP") or {}).get(c))) for c in classes
    ]:
        means, row = [], [name]
        for g in labels:
            m, s, n = _mean_std([_num(getter(rec)) for rec in _last_common(groups[g])])
            means.append(m)
            row.append(_fmt(m, s, n))
        finite = [m for m in means if math.isfinite(m)]
        best = max(finite) if finite else None
        tie = len(finite) == len(means) and len(set(finite)) == 1  # nothing stands out
        bold.append(
            set() if tie else {j + 1 for j, m in enumerate(means) if best is not None and m == best}
        )
        rows.append(row)
    head = ["class"] + [
        f"{g} (cycle {len(_last_common(groups[g])) and _last_common(groups[g])[0].get('cycle')})"
        for g in labels
    ]
    return head, rows, bold


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1150px;padding:0 1.5em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #ddd}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}.t{text-align:left}
td.t{white-space:normal;overflow-wrap:break-word}tr.sep td{border-top:2px solid #999}
figure{margin:.8em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption,.note{color:#555;font-size:.9em;max-width:60em}
"""


def _caption(text: str) -> str:
    return f"<figcaption>{text}</figcaption>"


def _figure(data: bytes, alt: str, caption: str) -> str:
    return f"<figure>{_img(data, alt)}{_caption(caption)}</figure>"


def _settings(run: RunData) -> str:
    """One line of the run's settings (budget, cycles, scales, detector) from its config."""
    c = run.config
    parts = []
    if c.get("budget") is not None:
        parts.append(f"budget {c['budget']} objects/cycle")
    if c.get("cycles") is not None:
        parts.append(f"{c['cycles']} cycles")
    if c.get("scales"):
        parts.append("scales " + " ".join(f"{a}×{b}" for a, b in c["scales"]))
    det = c.get("detector") or {}
    if det.get("name"):
        parts.append(f"{det['name']}/{det.get('backbone', '?')}")
    return ", ".join(parts)


def plot_class_objects(groups: dict[str, list[RunData]], path: Path) -> bytes | None:
    """Labelled objects per class in ``D_L`` against that class's AP (%), both at the last
    common cycle and averaged over seeds, one colour per label, x logarithmic (Fig. 3).
    ``None`` when no record holds ``labelled_per_class``."""
    points = []
    for label, group in groups.items():
        recs = _last_common(group)
        if not recs or not all(rec.get("labelled_per_class") for rec in recs):
            continue
        for c in _evaluated_classes(groups):
            counts = [_num((rec.get("labelled_per_class") or {}).get(c)) for rec in recs]
            ap = _class_ap(group, c)
            if math.isfinite(ap):
                points.append((label, c, float(np.nanmean(counts)), 100 * ap))
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    labels = list(groups)
    for j, label in enumerate(labels):
        pts = [p for p in points if p[0] == label]
        if not pts:
            continue
        xs = [max(p[2], 0.8) for p in pts]  # a class with no labelled object sits at 0.8
        marker = "osD^v<>"[j % 7]
        ax.scatter(
            xs, [p[3] for p in pts], color=f"C{j % 10}", marker=marker, s=28, label=label, zorder=3
        )
        if j == 0:
            for p, xv in zip(pts, xs, strict=True):
                ax.annotate(p[1], (xv, p[3]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(30, color="#999", ls="--", lw=1, label="30 % (difficult below)")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("labelled objects of the class in D_L (last cycle, log scale)")
    ax.set_ylabel("AP of the class (%)")
    ax.set_title("Class frequency against class AP (last cycle)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)


def _pm(d: dict[str, Any], pct: bool = True) -> str:
    """``mean ± std`` of a summary entry ``{"mean", "std", "n"}``."""
    return _fmt(_num(d.get("mean")), d.get("std") or 0.0, int(d.get("n") or 0), pct)


def _head() -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>mural report</title>',
        f"<style>{CSS}</style></head><body>",
        "<h1>MuRAL active-learning report</h1>",
        '<p class="note">Figures and tables follow the MuRAL paper (Multi-scale Region-based '
        "Active Learning for object detection); the numbers in brackets name the paper's "
        "figure or table each one mirrors. Runs are grouped by label (config <code>name</code>, "
        "else strategy); values are the mean over a label's seeds, ± the sample standard "
        "deviation when it has several. The figures are also in this folder as PNG, the "
        "statistics in <code>compare.json</code>.</p>",
    ]


def _runs_section(groups: dict[str, list[RunData]]) -> list[str]:
    rows = [
        [
            g,
            ", ".join(str(r.seed) for r in grp),
            str(max(len(r.records) for r in grp) - 1),
            _settings(grp[0]),
            "; ".join(str(r.path) for r in grp),
        ]
        for g, grp in groups.items()
    ]
    return [
        "<h2>Runs</h2>",
        _table(["label", "seeds", "cycles done", "settings", "folders"], rows, left={0, 1, 3, 4}),
        '<p class="note">cycles done: active-learning cycles after the initial training '
        "(cycle 0).</p>",
    ]


def _curves_section(groups: dict[str, list[RunData]], out: Path) -> list[str]:
    parts = [
        "<h2>mAP against labelled objects (Fig. 4/5)</h2>",
        _figure(
            plot_curves(groups, out / "map_vs_objects.png"),
            "mAP against objects",
            "COCO mAP@[.5:.95] (left) and AP50 (right) on the validation set, in %, against the "
            "number of objects labelled after the initial set (the annotation cost; mean over "
            "seeds), one point per cycle, as in the paper's Fig. 4 (coarse-grained baselines) "
            "and Fig. 5 (fine-grained baselines). Band: ± one standard deviation over seeds, "
            "for labels with several seeds.",
        ),
    ]
    labels = list(groups)
    curves = {g: (mean_std_curve(groups[g]), mean_std_curve(groups[g], "AP50")) for g in labels}
    k = max((len(c[0][0]) for c in curves.values()), default=0)
    trows, seps = [], []
    for i in range(k):  # cycle-major: the labels side by side at each cycle
        first = True
        for g in labels:
            (x, m, s, n), (_, m50, s50, _) = curves[g]
            if i < len(x):
                seps.append(first and i > 0)
                first = False
                trows.append(
                    [
                        str(i),
                        g,
                        f"{x[i]:.0f}",
                        _fmt(m[i], s[i], int(n[i])),
                        _fmt(m50[i], s50[i], int(n[i])),
                    ]
                )
    parts.append(
        _table(["cycle", "label", "objects", "mAP %", "AP50 %"], trows, left={0, 1}, rule=seps)
    )
    parts.append(
        '<p class="note">The numbers behind the figure (the paper lists them in its '
        "supplementary Tab. 2/3): objects = labelled after the initial set.</p>"
    )
    return parts


def _stats_section(summary: dict[str, Any]) -> list[str]:
    """Area under the curve, mAP at equal cost, objects spent, paired differences."""
    labs = summary["labels"]
    lo, hi = summary["cost_range"]
    budget = summary["budget"]
    parts = ["<h2>Comparison over seeds</h2>"]
    if hi is None or lo is None or not hi > lo:
        parts.append(
            '<p class="note">No common cost range yet (every run needs a second cycle).</p>'
        )
        return parts
    rows = []
    for g, d in labs.items():
        spent, over = d["mean_spent_per_cycle"], d["overshoot"]
        rows.append(
            [
                g,
                str(d["auc"]["n"]),
                _pm(d["auc"]),
                "–" if spent is None else f"{spent:.1f}",
                "–" if over is None else f"{100 * over:+.1f} %",
            ]
        )
    parts.append(
        _table(
            ["label", "seeds", "normalised AUC (mAP %)", "objects spent per cycle", "vs budget"],
            rows,
        )
    )
    parts.append(
        f'<p class="note">Normalised AUC: the area under each run\'s mAP-against-cost curve '
        f"(linear between cycles, exact trapezoids) over the cost range every run reached, "
        f"[{lo:.0f}, {hi:.0f}] objects labelled after the initial set, divided by its width "
        f"(the curve's mean mAP there); mean ± std over seeds. The budget rule stops a "
        f"selection at or above the budget ({'?' if budget is None else f'{budget:g}'} objects), "
        f"so strategies spend different amounts: <i>vs budget</i> is the mean overshoot.</p>"
    )
    grid = summary["equal_cost_grid"]
    if grid:
        head = ["label \\ objects"] + [f"{c:.0f}" for c in grid]
        erows = [
            [g]
            + [
                _pm({"mean": m, "std": s, "n": n})
                for m, s, n in zip(
                    d["equal_cost"]["mean"],
                    d["equal_cost"]["std"],
                    d["equal_cost"]["n"],
                    strict=True,
                )
            ]
            for g, d in labs.items()
        ]
        parts.append(_table(head, erows))
        parts.append(
            '<p class="note">mAP (%) interpolated at equal cost: each run\'s curve read at '
            "0, B, 2B, … objects (B the budget, up to the common range), linearly between its "
            "cycles, so no strategy gains from spending more than another per cycle.</p>"
        )
    prow = []
    for p in summary["paired"]:
        metric = "AUC" if p["metric"] == "auc" else f"mAP at {p['cost']:.0f} objects"
        ci = "–" if p["low"] is None else f"[{100 * p['low']:+.1f}, {100 * p['high']:+.1f}]"
        seeds = ", ".join(
            f"{s}: {'–' if v is None else f'{100 * v:+.1f}'}" for s, v in p["per_seed"].items()
        )
        mean = "–" if p["mean"] is None else f"{100 * p['mean']:+.1f}"  # NaN: no difference
        prow.append([f"{p['a']} − {p['b']}", metric, seeds, mean, ci, str(p["n"])])
    if prow:
        conf = round(100 * summary["confidence"])
        parts.append(
            _table(
                ["difference", "of", "per seed", "mean", f"{conf} % interval", "n"],
                prow,
                left={0, 1, 2},
            )
        )
        parts.append(
            f'<p class="note">Paired differences (percentage points) over the seeds both labels '
            f"ran (runs of one seed share the initial set and the cycle-0 detector): the mean "
            f"of the n per-seed differences and its {conf} % Student-t interval, mean ± "
            f"t<sub>n−1</sub> · std / √n (none for n = 1). An interval that holds 0 means "
            f"the difference is within seed noise.</p>"
        )
    return parts


def _per_class_section(groups: dict[str, list[RunData]], out: Path) -> list[str]:
    parts = ["<h2>Per-class AP (%) of the last cycle (Tab. 3)</h2>"]
    hard = difficult_classes(groups)
    if hard:
        head, prow, bold = _per_class_rows(groups, hard)
        parts.append("<p>Difficult classes (AP below 30 %):</p>")
        parts.append(_table(head, prow, bold))
    else:
        parts.append('<p class="note">No difficult class (every class has AP ≥ 30 %).</p>')
    head, prow, bold = _per_class_rows(groups)
    parts.append("<p>All classes:</p>")
    parts.append(_table(head, prow, bold))
    parts.append(
        '<p class="note">AP@[.5:.95] per category at the last cycle every seed of a label '
        "reached, as in the paper's Tab. 3: first the difficult classes (AP below 30 % on the "
        "last cycle, averaged over the labels, as the paper does for COCO), then all classes. "
        "Bold: the best label per row (none when all are equal).</p>"
    )
    data = plot_class_objects(groups, out / "class_objects_vs_ap.png")
    if data is not None:
        parts.append(
            _figure(
                data,
                "labelled objects per class against class AP",
                "Labelled objects of each class in D_L against the class's AP, both at the "
                "last cycle every seed of a label reached (mean over seeds), as in the "
                "paper's Fig. 3: rare classes tend to be detected worse, which MuRAL's class "
                "weighting counters. Class names beside the first label's points.",
            )
        )
    else:
        parts.append(
            '<p class="note">No per-class labelled counts in these runs (runs '
            "made before mural recorded them): Fig. 3 is not drawn.</p>"
        )
    return parts


def _categories_section(groups: dict[str, list[RunData]], out: Path) -> list[str]:
    parts = [
        "<h2>Selected category distribution (Fig. 6)</h2>",
        _figure(
            plot_categories(groups, out / "category_distribution.png"),
            "category distribution",
            "Share of each category among all objects a label selected for labelling over "
            "all cycles, as in the paper's Fig. 6; error bars: std over seeds. A strategy "
            "that picks more of the hard (low-AP) categories corrects the sampling bias.",
        ),
    ]
    classes = _class_order(groups)
    crow = []
    for g in groups:
        tot = _category_totals(groups[g])
        crow.append(
            [g] + [f"{tot.get(c, 0.0):.0f}" for c in classes] + [f"{sum(tot.values()):.0f}"]
        )
    parts.append(_table(["label", *classes, "total"], crow))
    parts.append('<p class="note">Objects selected over all cycles (mean over seeds).</p>')
    return parts


def _regions_section(groups: dict[str, list[RunData]], out: Path) -> list[str]:
    parts = ["<h2>Selected regions (Fig. 1c)</h2>"]
    drawn = 0
    for grp in groups.values():  # one figure per label: its first seed with region selections
        for r in grp:
            if drawn >= 3 or not any(s.get("kind") == "regions" for _, s in r.selections()):
                continue
            name = "regions.png" if not drawn else f"regions_{_slug(r.label)}.png"
            data = plot_regions(r, out / name)
            if data is not None:
                parts.append(
                    _figure(
                        data,
                        f"regions of {r.label}",
                        f"{html.escape(r.label)} (seed {r.seed}): the windows chosen in the "
                        "last cycle with a region selection, one row per scale (the image "
                        "resized to that scale; the window has the original image's size, "
                        "so a small scale covers the whole image and a large one a part of "
                        "it), as in the paper's Fig. 1c. Windows are drawn in original "
                        "pixels; grey is outside the image. White boxes: the objects the "
                        "window newly labelled (clipped to it). Up to 3 images per scale, "
                        "those with the most new objects.",
                    )
                )
                drawn += 1
                break
    if not drawn:
        parts.append('<p class="note">No region selection with readable images.</p>')
    return parts


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
) -> Path:
    """Write the figures (PNG), ``compare.json`` (:func:`mural.summary.summarise`) and
    ``index.html`` for the runs under ``run_dirs``.

    Returns the path of ``index.html``.
    """
    groups = group_runs(find_runs(run_dirs))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(groups)
    atomic_write_text(out / "compare.json", json.dumps(summary, indent=2) + "\n")
    parts = _head()
    parts += _runs_section(groups)
    parts += _curves_section(groups, out)
    parts += _stats_section(summary)
    parts += _per_class_section(groups, out)
    parts += _categories_section(groups, out)
    parts += _regions_section(groups, out)
    parts.append("</body></html>")
    index = out / "index.html"
    atomic_write_text(index, "\n".join(parts) + "\n")
    return index


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)

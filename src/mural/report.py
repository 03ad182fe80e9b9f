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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .io import atomic_write_bytes, atomic_write_text

__all__ = [
    "RunData",
    "find_runs",
    "group_runs",
    "mean_std_curve",
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
        """``(cycle, selection.json)`` of every cycle that has one, in cycle order."""
        out = []
        for d in sorted(self.path.glob("cycle_*")):
            f = d / "selection.json"
            if f.is_file():
                out.append((int(d.name.split("_")[1]), json.loads(f.read_text("utf-8"))))
        return out


def _read_run(path: Path) -> RunData:
    lines = (path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    try:
        records = [json.loads(x) for x in lines if x.strip()]
    except json.JSONDecodeError as exc:
        raise DataError(f"{path / 'metrics.jsonl'}: not JSON lines ({exc})") from None
    config: dict[str, Any] = {}
    if (path / "config.yaml").is_file():
        import yaml

        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    first = records[0] if records else {}
    label = first.get("label") or config.get("name") or first.get("strategy")
    if not label:
        label = (config.get("strategy") or {}).get("name") or path.name
    seed = first.get("seed", (config.get("seeds") or [0])[0])
    return RunData(path, str(label), int(seed), records, config)


def find_runs(paths: Iterable[str | os.PathLike[str]]) -> list[RunData]:
    """Every run under ``paths``: a folder with ``metrics.jsonl``, or any below it."""
    runs = []
    for p in paths:
        root = Path(p)
        if not root.is_dir():
            raise DataError(f"{root}: no such run folder")
        found = (
            [root]
            if (root / "metrics.jsonl").is_file()
            else sorted(f.parent for f in root.rglob("metrics.jsonl"))
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
    x, m, s, n = (np.zeros(k) for _ in range(4))
    for i in range(k):
        recs = [r.records[i] for r in group if len(r.records) > i]
        vals = np.array([_num(rec.get(key)) for rec in recs])
        x[i] = np.mean([_num(rec.get("added_objects")) for rec in recs])
        m[i] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        fin = vals[np.isfinite(vals)]
        s[i] = float(np.std(fin, ddof=1)) if fin.size > 1 else 0.0
        n[i] = len(recs)
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
                label=f"{label} ({seeds} seed{'s' if seeds > 1 else ''})",
            )
            if seeds > 1:
                ax.fill_between(x, 100 * (m - s), 100 * (m + s), color=colour, alpha=0.2)
        ax.set_xlabel("labelled objects added after the initial set")
        ax.set_ylabel(f"{key} (%)")
        ax.set_title(f"{key} against annotation cost")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
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


def plot_categories(groups: dict[str, list[RunData]], path: Path) -> bytes:
    """Share (%) of each category among the selected objects, bars grouped by label."""
    plt = _plt()
    classes = _class_order(groups)
    labels = list(groups)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(classes) + 2), 4.2))
    width = 0.8 / max(1, len(labels))
    xs = np.arange(len(classes))
    for j, label in enumerate(labels):
        tot = _category_totals(groups[label])
        total = sum(tot.values())
        share = [100 * tot.get(c, 0.0) / total if total else 0.0 for c in classes]
        ax.bar(
            xs + (j - (len(labels) - 1) / 2) * width, share, width, label=label, color=f"C{j % 10}"
        )
    ax.set_xticks(xs, classes, rotation=30 if len(classes) > 6 else 0, ha="right")
    ax.set_ylabel("share of selected objects (%)")
    ax.set_title("Selected category distribution (all cycles)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _train_dataset(run: RunData) -> Any:
    """The run's training dataset, or ``None`` when its files cannot be found."""
    from .data.coco import CocoDataset

    d = run.config.get("dataset") or {}
    try:
        if d.get("synthetic"):
            root = Path(d.get("synthetic_dir") or run.path / "data")
            if not (root / "train.json").is_file():
                return None
            return CocoDataset.load(root / "train.json", root / "images", check_images=False)
        if d.get("train") and Path(d["train"]).is_file():
            return CocoDataset.load(d["train"], d.get("train_images"), check_images=False)
    except DataError:
        return None
    return None


def plot_regions(run: RunData, path: Path, max_images: int = 4) -> bytes | None:
    """The last cycle's selected windows of ``run`` on their images, coloured by scale."""
    from PIL import Image

    from .core.geometry import scale_factor

    sels = [(c, s) for c, s in run.selections() if s.get("kind") == "regions" and s["items"]]
    ds = _train_dataset(run)
    if not sels or ds is None:
        return None
    cycle, sel = sels[-1]
    per_image: dict[int, list[dict[str, Any]]] = {}
    for it in sel["items"]:
        per_image.setdefault(int(it["image_id"]), []).append(it)
    chosen = sorted(per_image, key=lambda i: -len(per_image[i]))[:max_images]
    scales = sorted({(int(it["scale_index"]), tuple(it["scale"])) for it in sel["items"]})
    plt = _plt()
    from matplotlib.patches import Patch, Rectangle

    fig, axes = plt.subplots(1, len(chosen), figsize=(3.4 * len(chosen), 3.8), squeeze=False)
    for ax, iid in zip(axes[0], chosen, strict=True):
        info = ds.image(iid)
        try:
            img = np.asarray(Image.open(ds.image_path(iid)).convert("RGB"))
        except OSError:
            img = np.full((info.height, info.width, 3), 200, np.uint8)
        ax.imshow(img)
        for it in per_image[iid]:
            f = scale_factor((info.height, info.width), tuple(it["scale"]))
            x0, y0, x1, y1 = (float(v) / f for v in it["window"])
            colour = SCALE_COLOURS[int(it["scale_index"]) % len(SCALE_COLOURS)]
            ax.add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=2.2, ec=colour, ls="-")
            )
            ax.text(
                x0 + 1,
                y0 + 1,
                str(len(it["new_objects"])),
                color="white",
                fontsize=7,
                va="top",
                bbox={"fc": colour, "ec": "none", "pad": 1},
            )
        ax.set_xlim(-0.5, info.width - 0.5)
        ax.set_ylim(info.height - 0.5, -0.5)
        ax.set_title(f"image {iid}: {len(per_image[iid])} region(s)", fontsize=9)
        ax.axis("off")
    handles = [
        Patch(
            fill=False,
            ec=SCALE_COLOURS[si % len(SCALE_COLOURS)],
            lw=2,
            label=f"scale {si}: ({sc[0]}, {sc[1]})",
        )
        for si, sc in scales
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(
        f"{run.label} (seed {run.seed}): regions selected in cycle {cycle} "
        "(number = objects newly labelled)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return _save(fig, path)


# --------------------------------------------------------------------------- HTML


def _img(data: bytes, alt: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], bold: Sequence[set[int]] = ()
) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            text = html.escape(c)
            if i < len(bold) and j in bold[i]:
                text = f"<b>{text}</b>"
            cells.append(f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _last_common(group: Sequence[RunData]) -> list[dict[str, Any]]:
    """Each run's record at the last cycle every run of the group reached."""
    k = min(len(r.records) for r in group)
    return [r.records[k - 1] for r in group] if k else []


def _per_class_rows(
    groups: dict[str, list[RunData]],
) -> tuple[list[str], list[list[str]], list[set[int]]]:
    labels = list(groups)
    classes = [
        c
        for c in _class_order(groups)
        if any(
            c in (rec.get("per_class_AP") or {}) for g in groups.values() for rec in _last_common(g)
        )
    ]
    rows, bold = [], []
    for name, getter in [("mAP", lambda rec: rec.get("mAP"))] + [
        (c, (lambda rec, c=c: (rec.get("per_class_AP") or {}).get(c))) for c in classes
    ]:
        means, row = [], [name]
        for g in labels:
            vals = np.array([_num(getter(rec)) for rec in _last_common(groups[g])])
            fin = vals[np.isfinite(vals)]
            m = float(fin.mean()) if fin.size else float("nan")
            s = float(fin.std(ddof=1)) if fin.size > 1 else 0.0
            means.append(m)
            row.append(_fmt(m, s, int(fin.size)))
        finite = [m for m in means if math.isfinite(m)]
        best = max(finite) if finite else None
        bold.append({j + 1 for j, m in enumerate(means) if best is not None and m == best})
        rows.append(row)
    head = ["class"] + [
        f"{g} (cycle {len(_last_common(groups[g])) and _last_common(groups[g])[0].get('cycle')})"
        for g in labels
    ]
    return head, rows, bold


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
max-width:1150px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}.note{color:#666;font-size:.9em}
"""


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
) -> Path:
    """Write the figures (PNG) and ``index.html`` for the runs under ``run_dirs``.

    Returns the path of ``index.html``.
    """
    runs = find_runs(run_dirs)
    groups = group_runs(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>mural report</title>',
        f"<style>{CSS}</style></head><body>",
        "<h1>MuRAL active-learning report</h1>",
    ]
    rows = [
        [
            g,
            ", ".join(str(r.seed) for r in grp),
            str(max(len(r.records) for r in grp)),
            "; ".join(str(r.path) for r in grp),
        ]
        for g, grp in groups.items()
    ]
    parts += ["<h2>Runs</h2>", _table(["label", "seeds", "cycles", "folders"], rows)]

    parts.append("<h2>mAP against labelled objects (Fig. 4/5)</h2>")
    parts.append(_img(plot_curves(groups, out / "map_vs_objects.png"), "mAP against objects"))
    parts.append(
        '<p class="note">x: objects labelled after the initial set (mean over seeds); '
        "band: ± one standard deviation over seeds (when a label has several).</p>"
    )
    labels = list(groups)
    curves = {g: (mean_std_curve(groups[g]), mean_std_curve(groups[g], "AP50")) for g in labels}
    k = max((len(c[0][0]) for c in curves.values()), default=0)
    head = ["cycle"] + [f"{g}: {h}" for g in labels for h in ("objects", "mAP %", "AP50 %")]
    trows = []
    for i in range(k):
        row = [str(i)]
        for g in labels:
            (x, m, s, n), (_, m50, s50, _) = curves[g]
            if i < len(x):
                row += [f"{x[i]:.0f}", _fmt(m[i], s[i], int(n[i])), _fmt(m50[i], s50[i], int(n[i]))]
            else:
                row += ["", "", ""]
        trows.append(row)
    parts.append(_table(head, trows))

    parts.append("<h2>Per-class AP (%) of the last cycle (Tab. 3)</h2>")
    head, prow, bold = _per_class_rows(groups)
    parts.append(_table(head, prow, bold))
    parts.append('<p class="note">bold: the best label per row.</p>')

    parts.append("<h2>Selected category distribution (Fig. 6)</h2>")
    parts.append(
        _img(plot_categories(groups, out / "category_distribution.png"), "category distribution")
    )
    classes = _class_order(groups)
    crow = []
    for g in labels:
        tot = _category_totals(groups[g])
        crow.append(
            [g] + [f"{tot.get(c, 0.0):.0f}" for c in classes] + [f"{sum(tot.values()):.0f}"]
        )
    parts.append(_table(["label", *classes, "total"], crow))
    parts.append('<p class="note">objects selected over all cycles (mean over seeds).</p>')

    parts.append("<h2>Selected regions (Fig. 1c)</h2>")
    region_runs = [
        r
        for g in groups.values()
        for r in g
        if any(s.get("kind") == "regions" for _, s in r.selections())
    ]
    drawn = 0
    for r in region_runs[:3]:
        name = "regions.png" if not drawn else f"regions_{_slug(r.label)}_seed{r.seed}.png"
        data = plot_regions(r, out / name)
        if data is not None:
            parts.append(_img(data, f"regions of {r.label}"))
            drawn += 1
    if not drawn:
        parts.append('<p class="note">No region selection with readable images.</p>')
    parts.append("</body></html>")
    index = out / "index.html"
    atomic_write_text(index, "\n".join(parts) + "\n")
    return index


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)

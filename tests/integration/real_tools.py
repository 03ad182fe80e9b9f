"""The human loop with the real tools: Label Studio (two rounds over its HTTP API) and
datumaro (CVAT for images 1.1 and COCO, the formats CVAT imports and exports).

Opt-in, not collected by pytest (run ``python3 tasks.py integration``). It installs
``label-studio`` 1.23.x and ``datumaro`` each in its own virtual environment under a cache
folder (``.integration/`` beside ``tasks.py`` by default; installed once), then:

1. makes the tests' small dataset (with ground truth) and per-scale predictions;
2. round 1: ``mural select`` -> ``mural export --project P``; starts Label Studio on
   127.0.0.1 with the project folder ``P`` as its one document root; creates a project
   with mural's labelling config, a local-files storage on ``P`` and imports the tasks;
   checks every crop is served; annotates as a person would through the API (boxes of
   the ground truth, ``ignore`` boxes for objects cut by the crop), leaving one task
   untouched, one with a draft only and one skipped; exports (JSON) and runs
   ``mural import``; checks the pool: unfinished tasks pending, labelled boxes exact;
3. round 2: ``mural select --pool`` -> ``mural export --project P`` (the same document
   root); imports round 2's tasks into the same Label Studio project, checks round 1's
   and round 2's crops are both served, annotates round 2 and the untouched round-1 task,
   corrects one round-1 annotation, exports and imports again: the correction is
   "replaced", the rest added, the draft/skipped tasks still pending;
4. datumaro: reads mural's CVAT file with the crops, lets a "person" finish some frames
   (the others keep the pre-annotations), writes CVAT for images 1.1 and COCO, and
   ``mural import`` s both: without ``--done`` nothing enters the pool, with ``--done``
   exactly the finished frames, with their boxes (CVAT: 2 decimals);
5. stops Label Studio.

Prints ``integration: PASSED`` (exit 0) or the first failed check (exit 1). With
``--save-fixtures DIR`` it copies the tools' files (small) there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.human.fixtures

LS_SPEC = "label-studio>=1.23,<1.24"
DM_SPEC = "datumaro"
TOKEN = "mural0integration0token0abcdef0123456789"
USER, PASSWORD = "mural@example.org", "mural-integration-1"


class CheckFailed(AssertionError):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)
    print(f"  ok: {what}", flush=True)


# ------------------------------------------------------------------ environments
def tool_env(cache: Path, name: str, spec: str) -> Path:
    """A virtual environment with ``spec`` installed (once); returns its bin folder."""
    env = cache / name
    bin_ = env / ("Scripts" if os.name == "nt" else "bin")
    stamp = env / ".mural-stamp"
    if stamp.exists() and stamp.read_text() == spec:
        return bin_
    print(f"installing {spec} into {env} (a few minutes, once)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env)
    subprocess.check_call([str(bin_ / "python"), "-m", "pip", "install", "-q", spec])
    stamp.write_text(spec)
    return bin_


def mural(*args: str | Path) -> str:
    cmd = [sys.executable, "-m", "mural", *map(str, args)]
    print("+ mural " + " ".join(map(str, args)), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise CheckFailed(f"mural {args[0]} exited {p.returncode}: {p.stderr.strip()}")
    print("  " + p.stdout.strip().replace("\n", "\n  "), flush=True)
    return p.stdout


# ------------------------------------------------------------------ the annotator
def perfect_annotator(
    gt: dict[str, Any], task: dict[str, Any], f: float
) -> list[tuple[str, list[float]]]:
    """What a careful person draws on a crop (independent of mural's code): every object
    more than 0.7 visible (clipped to the crop), the partly visible ones as 'ignore'."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    x0, y0, x1, y1 = task["window"]
    out = []
    for a in gt["annotations"]:
        if a["image_id"] != task["image_id"]:
            continue
        bx, by, bw, bh = (v * f for v in a["bbox"])
        ix = max(0.0, min(bx + bw, x1) - max(bx, x0))
        iy = max(0.0, min(by + bh, y1) - max(by, y0))
        vis = ix * iy / (bw * bh)
        if vis <= 0:
            continue
        box = [max(bx, x0) - x0, max(by, y0) - y0, min(bx + bw, x1) - x0, min(by + bh, y1) - y0]
        out.append((names[a["category_id"]] if vis > 0.7 else "ignore", box))
    return out


def factor(gt: dict[str, Any], task: dict[str, Any]) -> float:
    im = next(i for i in gt["images"] if i["id"] == task["image_id"])
    lo, hi = task["scale"]
    return min(lo / min(im["height"], im["width"]), hi / max(im["height"], im["width"]))


def ls_result(drawn: list[tuple[str, list[float]]], w: int, h: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"m{k}",
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": w,
            "original_height": h,
            "image_rotation": 0,
            "origin": "manual",
            "value": {
                "x": 100 * a / w,
                "y": 100 * b / h,
                "width": 100 * (c - a) / w,
                "height": 100 * (d - b) / h,
                "rotation": 0,
                "rectanglelabels": [label],
            },
        }
        for k, (label, (a, b, c, d)) in enumerate(drawn)
    ]


# ------------------------------------------------------------------ Label Studio
class LabelStudio:
    def __init__(self, bin_: Path, data: Path, document_root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
            LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root.resolve()),
            LABEL_STUDIO_BASE_DATA_DIR=str(data),
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
            COLLECT_ANALYTICS="false",
        )
        data.mkdir(parents=True, exist_ok=True)
        self.log = open(data / "label-studio.log", "w")
        cmd = [
            str(bin_ / "label-studio"),
            "start",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-browser",
            "--data-dir",
            str(data),
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ]
        print(f"starting Label Studio on {self.url}", flush=True)
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 900
        while True:
            if self.proc.poll() is not None:
                raise CheckFailed(f"Label Studio exited {self.proc.returncode}; see its log")
            try:
                self.get("/api/version")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise CheckFailed("Label Studio did not start in 15 minutes") from None
                time.sleep(2)
        print(f"Label Studio {self.get('/api/version').get('release')} is up", flush=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        print("Label Studio stopped", flush=True)

    def request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Token {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                payload = r.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise CheckFailed(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        if raw:
            return payload
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def tasks(self, project: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            got = self.get(f"/api/tasks?project={project}&page_size=100&page={page}")
            items = got["tasks"] if isinstance(got, dict) else got
            out += items
            if len(items) < 100:
                return out
            page += 1


def check_served(ls: LabelStudio, project: int, proj_dir: Path) -> None:
    prefix = "/data/local-files/?d="
    for t in ls.tasks(project):
        url = t["data"]["image"]
        rel = url[len(prefix) :]
        got = ls.request("GET", url, raw=True)
        if got != (proj_dir / rel).read_bytes():
            raise CheckFailed(f"Label Studio serves {url} with other bytes than the crop")
    print(f"  ok: every crop of project {project} is served from the one document root")


def annotate(
    ls: LabelStudio, task_id: int, drawn: list[tuple[str, list[float]]], w: int, h: int
) -> dict[str, Any]:
    body = {"result": ls_result(drawn, w, h), "was_cancelled": False, "lead_time": 12.5}
    return dict(ls.post(f"/api/tasks/{task_id}/annotations/", body))


def pool_regions(pool_dir: Path) -> dict[tuple[int, int, tuple[int, ...]], dict[str, Any]]:
    doc = json.loads((pool_dir / "pool.json").read_text())
    return {(r["image_id"], r["scale_index"], tuple(r["window"])): r for r in doc["regions"]}


def check_region(
    regions: dict[tuple[int, int, tuple[int, ...]], dict[str, Any]],
    task: dict[str, Any],
    drawn: list[tuple[str, list[float]]],
    cat_id: dict[str, int],
    atol: float,
) -> None:
    key = (task["image_id"], task["scale_index"], tuple(task["window"]))
    r = regions.get(key)
    if r is None:
        raise CheckFailed(f"task {task['task_id']} is not in the pool")
    want = sorted((cat_id[n], *b) for n, b in drawn if n != "ignore")
    got = sorted((c, *b) for c, b in zip(r["category_ids"], r["boxes"], strict=True))
    want_i = sorted(tuple(b) for n, b in drawn if n == "ignore")
    got_i = sorted(tuple(b) for b in r["ignore"])
    ok = len(want) == len(got) and len(want_i) == len(got_i)
    ok = ok and all(
        a[0] == b[0] and all(abs(x - y) <= atol for x, y in zip(a[1:], b[1:], strict=True))
        for a, b in zip(want, got, strict=True)
    )
    ok = ok and all(
        all(abs(x - y) <= atol for x, y in zip(a, b, strict=True))
        for a, b in zip(want_i, got_i, strict=True)
    )
    if not ok:
        raise CheckFailed(
            f"task {task['task_id']}: pool boxes {got} {got_i}, drawn {want} {want_i}"
        )


# ------------------------------------------------------------------ datumaro
DM_SCRIPT = r"""
import json, sys
import datumaro as dm
from datumaro.components.annotation import AnnotationType, Bbox
src, done_json, out_cvat, out_coco = sys.argv[1:5]
done = json.load(open(done_json))
ds = dm.Dataset.import_from(src, "cvat")
labels = ds.categories()[AnnotationType.label]
for item in list(ds):
    name = item.id.split("/")[-1]  # datumaro's item id: the file name without extension
    drawn = done.get(name, done.get(name + ".png"))
    if drawn is not None:
        anns = [Bbox(x0, y0, x1 - x0, y1 - y0, label=labels.find(lab)[0])
                for lab, (x0, y0, x1, y1) in drawn]
        ds.put(item.wrap(annotations=anns))
ds.export(out_cvat, "cvat", save_media=False)
ds.export(out_coco, "coco_instances", save_media=False)
print("datumaro", dm.__version__, "items", len(ds))
"""


def run(cache: Path, keep: bool, save: Path | None) -> None:
    from tests.human.fixtures import write_dataset, write_predictions

    ls_bin = tool_env(cache, "label-studio", LS_SPEC)
    dm_bin = tool_env(cache, "datumaro", DM_SPEC)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    print(f"working in {work}", flush=True)
    data_json = write_dataset(work / "data")
    preds = write_predictions(work / "data")
    gt = json.loads(data_json.read_text())
    cat_id = {c["name"]: c["id"] for c in gt["categories"]}
    proj, pool = work / "project", work / "pool"
    sel_args: list[str | Path] = ["--dataset", data_json, "--images", work / "data" / "images"]
    for p, s, c in preds:
        sel_args += ["--predictions", p, "--scale", f"{s[0]},{s[1]}", "--coords", c]

    print("== round 1", flush=True)
    mural("select", *sel_args, "--budget", "8", "--out", work / "sel1")
    mural("export", work / "sel1" / "selection.json", "--project", proj, "--mean-color", "0,0,0")
    man1 = json.loads((proj / "rounds" / "round-1" / "manifest.json").read_text())
    by_tid = {t["task_id"]: t for t in man1["tasks"]}
    ls = LabelStudio(ls_bin, cache / "label-studio-data", proj)
    try:
        config = (proj / "rounds" / "round-1" / "label_studio" / "labeling_config.xml").read_text()
        project = ls.post("/api/projects/", {"title": "mural", "label_config": config})["id"]
        ls.post(
            "/api/storages/localfiles/",
            {
                "project": project,
                "path": str((proj / "rounds").resolve()),
                "title": "mural project",
                "use_blob_urls": False,
            },
        )
        tasks1 = json.loads(
            (proj / "rounds" / "round-1" / "label_studio" / "tasks.json").read_text()
        )
        ls.post(f"/api/projects/{project}/import", tasks1)
        check_served(ls, project, proj)
        ls_tasks = sorted(ls.tasks(project), key=lambda t: t["id"])
        check(len(ls_tasks) == len(tasks1), f"{len(tasks1)} round-1 tasks in Label Studio")
        untouched, drafted, skipped = (t["data"]["mural_task"] for t in ls_tasks[:3])
        ann_of: dict[str, int] = {}
        drawn_of: dict[str, list[tuple[str, list[float]]]] = {}
        for t in ls_tasks:
            tid = t["data"]["mural_task"]
            task = by_tid[tid]
            h, w = task["crop_size"]
            drawn = perfect_annotator(gt, task, factor(gt, task))
            if tid == untouched:
                continue
            if tid == drafted:
                ls.post(
                    f"/api/tasks/{t['id']}/drafts",
                    {"result": ls_result(drawn, w, h), "lead_time": 3.0},
                )
                continue
            if tid == skipped:
                ls.post(f"/api/tasks/{t['id']}/annotations/", {"result": [], "was_cancelled": True})
                continue
            ann_of[tid] = annotate(ls, t["id"], drawn, w, h)["id"]
            drawn_of[tid] = drawn
        export1 = work / "ls_export_1.json"
        export1.write_bytes(
            ls.request("GET", f"/api/projects/{project}/export?exportType=JSON", raw=True)
        )
        out = mural("import", export1, "--tasks", proj, "--pool", pool)
        check(f"{len(ann_of)} regions added" in out, f"{len(ann_of)} finished tasks added")
        for tid in (untouched, drafted, skipped):
            check(tid in out.split("pending:")[1].split("\n")[0], f"{tid} named pending")
        regions = pool_regions(pool)
        check(len(regions) == len(ann_of), "only the finished tasks are in the pool")
        for tid, drawn in drawn_of.items():
            check_region(regions, by_tid[tid], drawn, cat_id, 1e-6)
        check(True, "round 1: every labelled box exact (1e-6 px)")

        print("== round 2", flush=True)
        mural("select", *sel_args, "--budget", "4", "--pool", pool, "--out", work / "sel2")
        mural(
            "export", work / "sel2" / "selection.json", "--project", proj, "--mean-color", "0,0,0"
        )
        man2 = json.loads((proj / "rounds" / "round-2" / "manifest.json").read_text())
        for t in man2["tasks"]:
            by_tid[t["task_id"]] = t
        tasks2 = json.loads(
            (proj / "rounds" / "round-2" / "label_studio" / "tasks.json").read_text()
        )
        ls.post(f"/api/projects/{project}/import", tasks2)
        check_served(ls, project, proj)
        known_done = set(drawn_of)
        new = sorted(
            (t for t in ls.tasks(project) if t["id"] not in {x["id"] for x in ls_tasks}),
            key=lambda t: t["id"],
        )
        check(len(new) == len(tasks2), f"{len(tasks2)} round-2 tasks in the same project")
        # the person finishes round 2 but its first task, and round 1's untouched task; a
        # region selected again (pending in round 1) is finished once, in its newest task
        left = new[0]["data"]["mural_task"]
        added2 = 0
        for t in [
            *reversed(new),
            next(x for x in ls_tasks if x["data"]["mural_task"] == untouched),
        ]:
            tid = t["data"]["mural_task"]
            if tid == left or tid in drawn_of:
                continue
            task = by_tid[tid]
            h, w = task["crop_size"]
            drawn = perfect_annotator(gt, task, factor(gt, task))
            ann_of[tid] = annotate(ls, t["id"], drawn, w, h)["id"]
            drawn_of[tid] = drawn
            added2 += 1
        # a correction of a round-1 annotation: one box redrawn, half as wide
        fix = next(tid for tid in sorted(known_done) if drawn_of[tid])
        task = by_tid[fix]
        h, w = task["crop_size"]
        label, (a, b, c, d) = drawn_of[fix][0]
        drawn_of[fix] = [(label, [a, b, (a + c) / 2, d]), *drawn_of[fix][1:]]
        ls.request(
            "PATCH", f"/api/annotations/{ann_of[fix]}/", {"result": ls_result(drawn_of[fix], w, h)}
        )
        export2 = work / "ls_export_2.json"
        export2.write_bytes(
            ls.request("GET", f"/api/projects/{project}/export?exportType=JSON", raw=True)
        )
        out = mural("import", export2, "--tasks", proj, "--pool", pool)
        check(
            f"{added2} regions added, 1 replaced" in out,
            f"round 2: {added2} added, the correction of {fix} replaced",
        )
        check(f"{fix}: replaced" in out, "the summary names the replaced task")
        pend = set(out.split("pending:")[1].split("\n")[0].replace(",", " ").split())
        want = set(by_tid) - set(drawn_of)
        check(pend == want, f"pending exactly the unfinished tasks {sorted(want)}")
        check(left in pend or left in drawn_of, "round 2's unfinished task named pending")
        regions = pool_regions(pool)
        for tid, drawn in drawn_of.items():
            check_region(regions, by_tid[tid], drawn, cat_id, 1e-6)
        check(len(regions) == len(drawn_of), "round 2: pool = the finished tasks, boxes exact")
        cycles = {r["cycle"] for r in regions.values()}
        check(cycles == {1, 2}, "regions recorded with their round's cycle")
    finally:
        ls.stop()

    print("== CVAT / COCO through datumaro", flush=True)
    src = work / "cvat_in"
    (src / "images").mkdir(parents=True)
    shutil.copy(proj / "rounds" / "round-1" / "cvat" / "annotations.xml", src / "annotations.xml")
    for t in man1["tasks"]:
        shutil.copy(proj / "rounds" / "round-1" / t["crop"], src / "images" / Path(t["crop"]).name)
    finished = [t for t in man1["tasks"]][1:]  # the first frame stays unreviewed
    done = {Path(t["crop"]).name: perfect_annotator(gt, t, factor(gt, t)) for t in finished}
    (work / "done.json").write_text(json.dumps(done))
    (work / "dm.py").write_text(DM_SCRIPT)
    p = subprocess.run(
        [
            str(dm_bin / "python"),
            str(work / "dm.py"),
            str(src),
            str(work / "done.json"),
            str(work / "dm_cvat"),
            str(work / "dm_coco"),
        ],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        raise CheckFailed(f"datumaro failed: {p.stderr[-2000:]}")
    print("  " + p.stdout.strip(), flush=True)
    (cvat_xml,) = (work / "dm_cvat").glob("*.xml")  # named after the subset
    (coco_json,) = (work / "dm_coco" / "annotations").glob("instances_*.json")
    done_ids = ",".join(t["task_id"] for t in finished)
    for fmt, f, atol in (("cvat", cvat_xml, 0.006), ("coco", coco_json, 1e-6)):
        pool_f = work / f"pool_{fmt}"
        out = mural("import", f, "--tasks", proj / "rounds" / "round-1", "--pool", pool_f)
        check(
            "0 regions added" in out and not pool_f.exists(),
            f"{fmt}: without --done nothing enters the pool",
        )
        out = mural(
            "import",
            f,
            "--tasks",
            proj / "rounds" / "round-1",
            "--pool",
            pool_f,
            "--done",
            done_ids,
        )
        check(f"{len(finished)} regions added" in out, f"{fmt}: the finished frames added")
        check(
            man1["tasks"][0]["task_id"] in out.split("pending:")[1],
            f"{fmt}: the unreviewed frame is pending",
        )
        regions = pool_regions(pool_f)
        for t in finished:
            check_region(regions, t, done[Path(t["crop"]).name], cat_id, atol)
        check(True, f"{fmt}: boxes exact (tolerance {atol} px)")
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        shutil.copy(export1, save / "label_studio_round1.json")
        shutil.copy(export2, save / "label_studio_round2.json")
        shutil.copy(cvat_xml, save / "datumaro_cvat.xml")
        shutil.copy(coco_json, save / "datumaro_coco.json")
        for n in (1, 2):
            shutil.copy(
                proj / "rounds" / f"round-{n}" / "manifest.json", save / f"manifest_round{n}.json"
            )
        print(f"tool files saved in {save}")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cache",
        type=Path,
        default=ROOT / ".integration",
        help="folder for the tools' environments and the run (default .integration)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the run's folder")
    ap.add_argument("--save-fixtures", type=Path, default=None, metavar="DIR")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    try:
        run(args.cache.resolve(), args.keep, args.save_fixtures)
    except CheckFailed as exc:
        print(f"integration: FAILED: {exc}", flush=True)
        return 1
    print("integration: PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

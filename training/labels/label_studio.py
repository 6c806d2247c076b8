"""Label Studio round trip: an import file of tasks (with the auto label pre-annotated) and its export read back.

Images are referenced through Label Studio's local-files storage: a task's image URL is
`/data/local-files/?d=<path relative to the document root>`, served when Label Studio runs with
`LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true` and `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<document root>`
(the data root). An http(s) root instead gives `<root>/<relative path>` (files served by any web server).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from training.data.images import read_rgb, write_image
from training.data.storage import atomic_path
from training.labels.compose import side_by_side
from training.labels.prompts import P_LABEL

FROM_NAME, TO_NAME = "label", "pair"
EXPORT_COLUMNS = ["pair_id", "text", "ref", "author", "annotated_at"]

LABELING_CONFIG = f"""<View>
  <Header value="$pair_id: what is added to the right image? (left = current I_t-1, right = next I_t)"/>
  <Text name="question" value="$question"/>
  <Image name="{TO_NAME}" value="$image" maxWidth="100%"/>
  <Header value="Auto label: $auto_label (backend $backend). Current correction: $correction"/>
  <TextArea name="{FROM_NAME}" toName="{TO_NAME}" editable="true" maxSubmissions="1" rows="1" required="true"
            placeholder="at most 2 words, e.g. mountains"/>
  <Header value="Target painting I_T and the change mask M_t"/>
  <Image name="target" value="$target" maxWidth="49%"/>
  <Image name="mask" value="$mask" maxWidth="49%"/>
</View>
"""


def file_url(path: Path | str, document_root: Path | str, base_url: str | None = None) -> str:
    """The URL Label Studio fetches `path` from: local-files storage, or `base_url/<relative path>`."""
    try:
        rel = Path(path).resolve().relative_to(Path(document_root).resolve())
    except ValueError as exc:
        raise ValueError(
            f"{path} is outside the Label Studio document root {document_root}; pass the data root as the root "
            "(LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT) and write the export under it"
        ) from exc
    if base_url:
        return base_url.rstrip("/") + "/" + quote(rel.as_posix(), safe="/")
    return "/data/local-files/?d=" + quote(rel.as_posix(), safe="/")


def export_tasks(
    rows: pd.DataFrame, image_root: Path | str, out_dir: Path, base_url: str | None = None
) -> tuple[Path, Path]:
    """Write `tasks.json` (Label Studio import file) and `labeling_config.xml` into `out_dir`.

    `rows`: pair_id, auto_text, backend, model_id, prev_path, next_path, target_path, mt_mask_path and
    optionally `correction` (the current one, shown to the annotator). The composite [I_{t-1} | I_t] of each
    pair is written to `out_dir/images/<video_id>/<pair_index>.png`. `image_root` is the local-files document
    root, a folder holding `out_dir` and the data; with `base_url` images are `<base_url>/<path under root>`
    instead (any web server serving that folder).
    """
    need = {"pair_id", "auto_text", "backend", "model_id", "prev_path", "next_path", "target_path", "mt_mask_path"}
    missing = need - set(rows.columns)
    if missing:
        raise ValueError(f"export rows lack columns {sorted(missing)}")

    def url(path: Path | str) -> str:
        return file_url(path, image_root, base_url)

    tasks = []
    for rec in rows.to_dict("records"):
        video, index = rec["pair_id"].rsplit("/", 1)
        composite = out_dir / "images" / video / f"{index}.png"
        composite.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(composite) as tmp:
            write_image(tmp, side_by_side(read_rgb(rec["prev_path"]), read_rgb(rec["next_path"])))
        auto = rec["auto_text"] if isinstance(rec["auto_text"], str) else ""
        correction = rec.get("correction")
        task: dict = {
            "data": {
                "pair_id": rec["pair_id"],
                "question": P_LABEL,
                "image": url(composite),
                "target": url(rec["target_path"]),
                "mask": url(rec["mt_mask_path"]),
                "auto_label": auto,
                "backend": str(rec["backend"]),
                "correction": correction if isinstance(correction, str) else "",
            }
        }
        if auto:
            task["predictions"] = [
                {
                    "model_version": f"{rec['backend']}/{rec['model_id']}",
                    "result": [
                        {
                            "from_name": FROM_NAME,
                            "to_name": TO_NAME,
                            "type": "textarea",
                            "value": {"text": [auto]},
                        }
                    ],
                }
            ]
        tasks.append(task)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks_path, config_path = out_dir / "tasks.json", out_dir / "labeling_config.xml"
    with atomic_path(tasks_path) as tmp:
        tmp.write_text(json.dumps(tasks, indent=1, ensure_ascii=False), encoding="utf-8")
    with atomic_path(config_path) as tmp:
        tmp.write_text(LABELING_CONFIG, encoding="utf-8")
    return tasks_path, config_path


def _author(completed_by: object) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id") or "")
    return "" if completed_by is None else f"label-studio user {completed_by}"


def _annotation_text(annotation: dict) -> str | None:
    texts = [
        item["value"]["text"]
        for item in annotation.get("result") or []
        if item.get("from_name") == FROM_NAME and item.get("type") == "textarea" and "text" in item.get("value", {})
    ]
    if not texts:
        return None
    last = texts[-1]
    return last[-1] if isinstance(last, list) and last else (last if isinstance(last, str) else None)


def read_export(path: Path) -> pd.DataFrame:
    """Corrections from a Label Studio export: JSON (full) or JSON-MIN. Columns EXPORT_COLUMNS.

    Full JSON: per task, the last annotation that was not cancelled (skipped); its textarea `label`
    (`result[*].value.text`, last item). Tasks without such an annotation give no row.
    JSON-MIN: the flat `label` field of each task. `ref` is "task <id>" for error reports.
    """
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: not a readable Label Studio JSON export ({exc}); export the project as JSON"
        ) from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: a Label Studio export is a JSON list of tasks; got {type(items).__name__}")
    rows = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: item {number} is not a task object")
        ref = f"task {item.get('id', f'#{number}')}"
        if "annotations" in item:
            done = [a for a in item["annotations"] or [] if not a.get("was_cancelled")]
            if not done:
                continue
            last = done[-1]
            text = _annotation_text(last)
            pid = (item.get("data") or {}).get("pair_id")
            author, when = _author(last.get("completed_by")), last.get("updated_at") or last.get("created_at")
        elif FROM_NAME in item or "pair_id" in item:  # JSON-MIN: data fields and results flattened
            text, pid = item.get(FROM_NAME), item.get("pair_id")
            text = text[-1] if isinstance(text, list) and text else text
            author, when = _author(item.get("annotator")), item.get("updated_at") or item.get("created_at")
        else:
            raise ValueError(f"{path}: {ref} has neither 'annotations' (JSON export) nor '{FROM_NAME}' (JSON-MIN)")
        if text is None and not pid:
            continue
        rows.append({"pair_id": pid or "", "text": text, "ref": ref, "author": author, "annotated_at": when})
    return pd.DataFrame(rows, columns=EXPORT_COLUMNS)

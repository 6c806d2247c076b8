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
from training.labels.store import read_utf8

FROM_NAME, TO_NAME = "label", "pair"
EXPORT_COLUMNS = ["pair_id", "text", "ref", "author", "annotated_at", "prev_t_ms", "next_t_ms"]

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

    `rows`: pair_id, prev_t_ms, next_t_ms, auto_text, backend, model_id, prev_path, next_path, target_path,
    mt_mask_path and optionally `correction` (the current one, shown to the annotator). The composite
    [I_{t-1} | I_t] of each pair is written to `out_dir/images/<video_id>/<pair_index>.png`. `image_root` is the
    local-files document root, a folder holding `out_dir` and the data; with `base_url` images are
    `<base_url>/<path under root>` instead (any web server serving that folder). The frame times travel in each
    task's data, so importing an export made before the video was re-curated is refused row by row.
    """
    need = {
        "pair_id",
        "prev_t_ms",
        "next_t_ms",
        "auto_text",
        "backend",
        "model_id",
        "prev_path",
        "next_path",
        "target_path",
        "mt_mask_path",
    }
    missing = need - set(rows.columns)
    if missing:
        raise ValueError(f"export rows lack columns {sorted(missing)}")

    def url(path: object) -> str:
        # a pair whose difference mask is not materialized yet still gets a task (its mask image is blank)
        return file_url(path, image_root, base_url) if isinstance(path, (str, Path)) and str(path) else ""

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
                "prev_t_ms": int(rec["prev_t_ms"]),
                "next_t_ms": int(rec["next_t_ms"]),
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


_FIX = "export the project again from Label Studio (Export: JSON or JSON-MIN) and import that file as it is"


class _Bad(ValueError):
    """A structural problem of one task; `read_export` adds the file and the fix."""


def _expect(value: object, kind: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, kind):
        names = {dict: "an object {...}", list: "a list [...]", str: "a string"}
        wanted = " or ".join(names.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise _Bad(f"{what} is {_kind(value)}, expected {wanted}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _author(completed_by: object) -> str:
    if isinstance(completed_by, dict):
        who = completed_by.get("email") or completed_by.get("id")
        return str(who) if isinstance(who, (str, int)) and not isinstance(who, bool) else ""
    if isinstance(completed_by, (str, int)) and not isinstance(completed_by, bool):
        return f"label-studio user {completed_by}"
    return ""


def _when(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _last_text(value: object) -> object:
    """The last item of a textarea's `text` (a list of lines); other JSON values as they are (the import
    refuses them by name)."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _annotation_text(annotation: dict) -> object:
    result = annotation.get("result")
    if result is None:
        return None
    _expect(result, list, "'result' of its annotation")
    texts = []
    for item in result:
        _expect(item, dict, "an item of 'result'")
        if item.get("from_name") != FROM_NAME or item.get("type") != "textarea":
            continue
        value = item.get("value")
        _expect(value, dict, f"'value' of its '{FROM_NAME}' result")
        if "text" in value:
            texts.append(value["text"])
    return _last_text(texts[-1]) if texts else None


def _task_row(item: object, number: int) -> tuple[str, dict | None]:
    """`(ref, row)`: the candidate correction of one exported task (row None: not annotated)."""
    if not isinstance(item, dict):
        raise _Bad(f"item {number} is {_kind(item)}, not a task object {{...}}")
    task_id = item.get("id")
    short_id = (
        isinstance(task_id, (int, str))
        and not isinstance(task_id, bool)
        and 0 < len(str(task_id)) <= 40
        and str(task_id).isprintable()  # the reference goes into one-line messages
    )
    ref = f"task {task_id}" if short_id else f"task #{number}"
    try:
        if "annotations" in item:
            annotations = item["annotations"] or []
            _expect(annotations, list, "'annotations'")
            for annotation in annotations:
                _expect(annotation, dict, "an item of 'annotations'")
            data = item.get("data") or {}
            _expect(data, dict, "'data'")
            done = [a for a in annotations if not a.get("was_cancelled")]
            if not done:
                return ref, None
            last = done[-1]
            text = _annotation_text(last)
            pid, prev_ms, next_ms = data.get("pair_id"), data.get("prev_t_ms"), data.get("next_t_ms")
            author, when = _author(last.get("completed_by")), _when(last.get("updated_at") or last.get("created_at"))
        elif FROM_NAME in item or "pair_id" in item:  # JSON-MIN: data fields and results flattened
            text, pid = _last_text(item.get(FROM_NAME)), item.get("pair_id")
            prev_ms, next_ms = item.get("prev_t_ms"), item.get("next_t_ms")
            author, when = _author(item.get("annotator")), _when(item.get("updated_at") or item.get("created_at"))
        else:
            raise _Bad(f"has neither 'annotations' (JSON export) nor '{FROM_NAME}' (JSON-MIN)")
    except _Bad as exc:
        raise _Bad(f"{ref}: {exc}") from None
    if text is None and not pid:
        return ref, None
    row = {"pair_id": pid if pid is not None else "", "text": text, "ref": ref, "author": author}
    return ref, row | {"annotated_at": when, "prev_t_ms": prev_ms, "next_t_ms": next_ms}


def read_export(path: Path) -> pd.DataFrame:
    """Corrections from a Label Studio export: JSON (full) or JSON-MIN. Columns EXPORT_COLUMNS.

    Full JSON: per task, the last annotation that was not cancelled (skipped); its textarea `label`
    (`result[*].value.text`, last item). Tasks without such an annotation give no row.
    JSON-MIN: the flat `label` field of each task. `ref` is "task <id>" for error reports.
    The whole file is checked before anything is imported: a field of the wrong type (a string where
    Label Studio writes a list or an object), or nesting too deep to read, is one ValueError naming the file,
    the task and the fix. A label that is not a string (an object, a list, a number) is passed on as it is,
    and the import refuses that row by name.
    """
    text = read_utf8(path)
    try:
        items = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or a number too long to convert
        raise ValueError(f"{path}: not a readable Label Studio JSON export ({exc}); {_FIX}") from exc
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a Label Studio export; {_FIX}") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: a Label Studio export is a JSON list of tasks; got {_kind(items)}; {_FIX}")
    rows = []
    for number, item in enumerate(items, start=1):
        try:
            _, row = _task_row(item, number)
        except _Bad as exc:
            raise ValueError(f"{path}: {exc}; {_FIX}") from None
        if row is not None:
            rows.append(row)
    return pd.DataFrame(rows, columns=EXPORT_COLUMNS)

"""LLaVA conversation JSON: the training data format of g_text (the authors' `llava_json.json`), written from
the labelled pairs with their composed images (`build_conversation_json`) and read back for training.

Each entry holds one image (the [I_{t-1} | I_T] pair side by side, left = current, right = target, as p says;
a path relative to the image folder) and one question/answer turn::

    {"id": 0, "image": "example/2_0:40_10_3:21.png",
     "conversations": [{"from": "human", "value": "<image>\\n<prompt p>"}, {"from": "gpt", "value": "Mountain"}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from training.data.images import read_rgb, write_image
from training.data.storage import atomic_dir, atomic_path
from training.labels.compose import side_by_side
from training.labels.prompts import P_INSTRUCT

IMAGE_PLACEHOLDER = "<image>"


JSON_NAME = "llava_json.json"


def conversation_record(index: int, image: str, answer: str, prompt: str = P_INSTRUCT) -> dict:
    return {
        "id": index,
        "image": image,
        "conversations": [{"from": "human", "value": f"<image>\n{prompt}"}, {"from": "gpt", "value": answer}],
    }


def build_conversation_json(rows: pd.DataFrame, out_dir: Path) -> Path:
    """Write `out_dir/llava_json.json` and the composed images under `out_dir/<video_id>/`; returns the JSON path.

    `rows`: pair_id, video_id, prev_path, target_path, text (the instruction label). `out_dir` is
    replaced as a whole (atomically). Raises ValueError naming the pairs without a label.
    """
    missing = {"pair_id", "video_id", "prev_path", "target_path", "text"} - set(rows.columns)
    if missing:
        raise ValueError(f"conversation rows lack columns {sorted(missing)}")
    blank = rows.loc[rows["text"].isna() | rows["text"].astype("string").str.strip().eq(""), "pair_id"].tolist()
    if blank:
        raise ValueError(f"pairs without an instruction label: {blank[:10]}; label them (labels import) first")
    records, names = [], set()
    with atomic_dir(Path(out_dir)) as tmp:
        for index, rec in enumerate(rows.to_dict("records")):
            name = f"{rec['video_id']}/{Path(rec['prev_path']).stem}_{Path(rec['target_path']).stem}.png"
            if name in names:
                raise ValueError(f"two pairs compose to the same image {name}; pair ids must be unique")
            names.add(name)
            (tmp / rec["video_id"]).mkdir(exist_ok=True)
            write_image(tmp / name, side_by_side(read_rgb(rec["prev_path"]), read_rgb(rec["target_path"])))
            records.append(conversation_record(index, name, str(rec["text"]).strip()))
        (tmp / JSON_NAME).write_text(json.dumps(records, indent=4, ensure_ascii=False), encoding="utf-8")
    return Path(out_dir) / JSON_NAME


@dataclass(frozen=True)
class Conversation:
    """One training example: the side-by-side image, the question without the image placeholder, the answer."""

    id: str
    image: Path
    question: str
    answer: str


def _strip_placeholder(text: str) -> str:
    return text.replace(IMAGE_PLACEHOLDER, "").strip()


def _parse_entry(entry: object, index: int, source: Path, image_folder: Path) -> Conversation:
    where = f"{source}: entry {index}"
    if not isinstance(entry, dict) or "image" not in entry or "conversations" not in entry:
        raise ValueError(f"{where}: expected an object with 'image' and 'conversations' (LLaVA format)")
    turns = entry["conversations"]
    if (
        not isinstance(turns, list)
        or len(turns) != 2
        or [t.get("from") for t in turns if isinstance(t, dict)] != ["human", "gpt"]
    ):
        raise ValueError(f"{where}: g_text trains on one turn; expected conversations [human, gpt], got {turns!r}")
    question, answer = (str(t.get("value", "")) for t in turns)
    if IMAGE_PLACEHOLDER not in question:
        raise ValueError(f"{where}: the human turn has no {IMAGE_PLACEHOLDER} placeholder: {question!r}")
    if not answer.strip():
        raise ValueError(f"{where}: empty answer; label the pair or drop it from the dataset")
    image = image_folder / str(entry["image"])
    if not image.is_file():
        raise FileNotFoundError(
            f"{where}: image {image} not found; pass image_folder= the folder the 'image' paths are relative to "
            f"(default: the JSON's folder) or rebuild the dataset"
        )
    return Conversation(str(entry.get("id", index)), image, _strip_placeholder(question), answer.strip())


def read_conversations(path: Path | str, image_folder: Path | str | None = None) -> list[Conversation]:
    """Parse and validate a conversation JSON; every image must exist under `image_folder` (default: its folder)."""
    source = Path(path)
    try:
        entries = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: conversation JSON not found; materialize training_dataset") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: expected a non-empty JSON list of LLaVA conversation entries")
    folder = Path(image_folder) if image_folder is not None else source.parent
    return [_parse_entry(entry, i, source, folder) for i, entry in enumerate(entries)]


def write_conversations(conversations: list[Conversation], path: Path | str) -> Path:
    """Write a conversation JSON with image paths relative to its folder (atomically)."""
    target = Path(path)
    entries = []
    for c in conversations:
        try:
            image = Path(c.image).resolve().relative_to(target.parent.resolve())
        except ValueError:
            raise ValueError(f"{c.image}: images must sit under the JSON's folder {target.parent}") from None
        entries.append(conversation_record(c.id, image.as_posix(), c.answer, prompt=c.question))
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(entries, indent=1, ensure_ascii=False), encoding="utf-8")
    return target

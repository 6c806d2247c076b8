"""The text generator's training set: LLaVA conversation JSON as in the paper's release, plus composed images.

Each record: `{"id", "image": "<video_id>/<prev stem>_<target stem>.png", "conversations": [human
"<image>\\n" + p, gpt <instruction label>]}`, the image being [I_{t-1} | I_T] side by side (left = current,
right = target, as p says).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from training.data.images import read_rgb, write_image
from training.data.storage import atomic_dir
from training.labels.compose import side_by_side
from training.labels.prompts import P_INSTRUCT

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

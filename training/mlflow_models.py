"""The trained models as MLflow models: a pyfunc per model kind, with a signature, an input example and a description.

Each pyfunc wraps the ``save_pretrained`` folder that training wrote (an artifact named ``model``) and loads it
with the project's own loaders (:func:`training.models.renderer.load_renderer`,
:func:`training.models.mask_generator.load_mask_generator`, :meth:`training.text_generator.TextGenerator.load`),
so ``mlflow.pyfunc.load_model("models:/renderer/1")`` and ``mlflow models predict`` run the real model:

- ``text_generator``: canvas ``current`` + ``target`` (encoded images) -> ``instruction`` (g_text's text);
- ``mask_generator``: ``target``, ``current``, ``difference_mask`` M_d, ``text``, ``dt_s`` -> ``mask_probability``
  (M̂_t as an 8-bit PNG, 255 = certain to change);
- ``renderer``: ``current``, ``target``, ``text``, ``mask`` (where to paint), ``dt_s`` -> ``frame`` (Î_t, PNG).

Images travel as encoded bytes (PNG or JPEG; base64 in JSON requests), the MLflow ``binary`` type. The model is
written as *models from code* (:mod:`training.mlflow_pyfunc`, no pickled object) and needs this project
(``pip install -e <checkout>``) beside the pinned requirements. Nothing is predicted while logging: the input
example (a 16-pixel canvas) is only checked against the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from training.data.images import encode_image

ARTIFACT = "model"  # the pyfunc artifact holding the save_pretrained folder
ENTRY = Path(__file__).with_name("mlflow_pyfunc.py")
PROJECT = "inverse-painting"
EXAMPLE_SIDE = 16  # input-example images: enough to run the tiny models, cheap to check


@dataclass(frozen=True)
class ModelKind:
    """What one trained model is in MLflow: its signature and the words of its registry description."""

    asset: str
    summary: str
    inputs: Schema
    outputs: Schema
    params: tuple[str, ...] = ()  # request params (defaults from the saved model: _params)

    def signature(self, folder: Path) -> ModelSignature:
        return ModelSignature(self.inputs, self.outputs, _params(self.asset, folder))


_IMAGE = "an encoded RGB image (PNG or JPEG bytes)"
KINDS = {
    "text_generator": ModelKind(
        "text_generator",
        "g_text: the instruction (one or two words, e.g. 'sky') for the next painting step, from the current "
        "canvas and the target painting.",
        Schema([ColSpec("binary", "current"), ColSpec("binary", "target")]),
        Schema([ColSpec("string", "instruction")]),
    ),
    "mask_generator": ModelKind(
        "mask_generator",
        "g_mask: where the next painting step changes the canvas (M̂_t), from the target, the current canvas, the "
        "difference mask M_d between them, the instruction and the time step Δt.",
        Schema(
            [
                ColSpec("binary", "target"),
                ColSpec("binary", "current"),
                ColSpec("binary", "difference_mask"),
                ColSpec("string", "text"),
                ColSpec("double", "dt_s"),
            ]
        ),
        Schema([ColSpec("binary", "mask_probability")]),
        ("use_time",),
    ),
    "renderer": ModelKind(
        "renderer",
        "Renderer: the next canvas Î_t from the current canvas Î_{t-1}, the target I_T, the instruction, the mask "
        "of where to paint and the time step Δt.",
        Schema(
            [
                ColSpec("binary", "current"),
                ColSpec("binary", "target"),
                ColSpec("string", "text"),
                ColSpec("binary", "mask"),
                ColSpec("double", "dt_s"),
            ]
        ),
        Schema([ColSpec("binary", "frame")]),
        ("num_steps", "seed"),
    ),
}
_COLUMNS_HELP = {
    "current": f"current canvas, {_IMAGE}",
    "target": f"target painting, {_IMAGE}",
    "difference_mask": "M_d, a greyscale PNG (255 = differs from the target)",
    "mask": "where to paint, a greyscale PNG (255 = paint)",
    "text": "the instruction ('' = none)",
    "dt_s": "Δt, seconds",
}


def _params(asset: str, folder: Path) -> ParamSchema | None:
    if asset == "renderer":
        from training.models.renderer import CONFIG_NAME

        info = _read_json(folder / CONFIG_NAME).get("info") or {}
        steps = int(info.get("sampler_steps", 25))  # RenderPipeline.default_steps, without loading the weights
        return ParamSchema([ParamSpec("num_steps", "long", steps), ParamSpec("seed", "long", 0)])
    if asset == "mask_generator":
        return ParamSchema([ParamSpec("use_time", "boolean", True)])
    return None


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text()) if path.is_file() else {}


# ------------------------------------------------------------------------------------------ images
def encode_png(image: np.ndarray) -> bytes:
    """RGB or greyscale uint8 array -> PNG bytes (lossless, for masks and frames)."""
    return encode_image(image, ".png")


def decode_rgb(data: bytes | str) -> np.ndarray:
    """Encoded image bytes (or their base64 text) -> uint8 RGB array."""
    pixels = cv2.imdecode(np.frombuffer(_bytes(data), np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError("an image column holds bytes that are not an encoded image (PNG or JPEG)")
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def decode_gray(data: bytes | str) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(_bytes(data), np.uint8), cv2.IMREAD_GRAYSCALE)
    if pixels is None:
        raise ValueError("a mask column holds bytes that are not an encoded image (PNG)")
    return pixels


def _bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):  # a JSON request that skipped the schema's base64 decoding
        import base64

        return base64.b64decode(data)
    return bytes(data)


def input_example(asset: str) -> pd.DataFrame:
    """One row of inputs at 16 × 16 pixels: a white canvas, a two-colour target, the top half to paint."""
    side = EXAMPLE_SIDE
    canvas = np.full((side, side, 3), 255, np.uint8)
    target = canvas.copy()
    target[: side // 2] = (40, 90, 200)
    target[side // 2 :] = (60, 140, 60)
    half = np.zeros((side, side), np.uint8)
    half[: side // 2] = 255
    row: dict[str, Any] = {"current": encode_png(canvas), "target": encode_png(target)}
    if asset == "mask_generator":
        row.update(difference_mask=encode_png(np.full((side, side), 255, np.uint8)), text="sky", dt_s=20.0)
    elif asset == "renderer":
        row.update(text="sky", mask=encode_png(half), dt_s=20.0)
    return pd.DataFrame([row])[KINDS[asset].inputs.input_names()]


# ------------------------------------------------------------------------------------------ the pyfunc
class TrainedModel(PythonModel):
    """One of the three trained models (``model_config["kind"]``), loaded from its ``save_pretrained`` folder."""

    def load_context(self, context: PythonModelContext) -> None:
        self.kind = str(context.model_config["kind"])
        folder = Path(context.artifacts[ARTIFACT])
        if self.kind == "renderer":
            from training.models.renderer import load_renderer

            self.model = load_renderer(folder)
        elif self.kind == "mask_generator":
            from training.models.mask_generator import load_mask_generator

            self.model = load_mask_generator(folder)
        elif self.kind == "text_generator":
            from training.text_generator import TextGenerator

            self.model = TextGenerator.load(folder)
        else:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {sorted(KINDS)}")

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        rows = model_input.to_dict("records")
        if self.kind == "text_generator":
            pairs = [(decode_rgb(r["current"]), decode_rgb(r["target"])) for r in rows]
            return pd.DataFrame({"instruction": self.model.generate_batch(pairs)})
        if self.kind == "mask_generator":
            use_time = bool(params.get("use_time", True))
            masks = [
                self.model.predict(
                    decode_rgb(r["target"]),
                    decode_rgb(r["current"]),
                    decode_gray(r["difference_mask"]),
                    str(r["text"]),
                    float(r["dt_s"]),
                    use_time=use_time,
                )
                for r in rows
            ]
            return pd.DataFrame({"mask_probability": [encode_png(np.round(m * 255).astype(np.uint8)) for m in masks]})
        import torch

        renderer = self.model
        steps = int(params.get("num_steps") or renderer.default_steps)
        generator = torch.Generator().manual_seed(int(params.get("seed", 0)))
        frames = [
            renderer.generate(
                decode_rgb(r["current"]),
                decode_rgb(r["target"]),
                str(r["text"]),
                decode_gray(r["mask"]),
                float(r["dt_s"]),
                steps,
                renderer.default_guidance,
                generator,
            )
            for r in rows
        ]
        return pd.DataFrame({"frame": [encode_png(f) for f in frames]})


# ------------------------------------------------------------------------------------------ saving
def pip_requirements() -> list[str]:
    """This project's runtime requirements at the installed versions, less the orchestration (Dagster)."""
    from packaging.requirements import Requirement

    pinned = []
    for spec in requires(PROJECT) or []:
        req = Requirement(spec)
        if (req.marker is not None and not req.marker.evaluate({"extra": ""})) or req.name.startswith("dagster"):
            continue
        try:
            pinned.append(f"{req.name}=={version(req.name)}")
        except PackageNotFoundError:
            pinned.append(str(req))
    return pinned


def save_pyfunc(asset: str, folder: Path, dest: Path, mlflow_model: Model | None = None) -> Path:
    """Write the MLflow model of a trained ``save_pretrained`` folder to ``dest`` (a new directory)."""
    import mlflow.pyfunc

    if asset not in KINDS:
        raise ValueError(f"no MLflow model kind for {asset!r}; expected one of {sorted(KINDS)}")
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: no trained model folder to log")
    kind = KINDS[asset]
    mlflow.pyfunc.save_model(
        dest,
        python_model=ENTRY,
        artifacts={ARTIFACT: str(folder)},
        model_config={"kind": asset},
        signature=kind.signature(Path(folder)),
        input_example=input_example(asset),
        pip_requirements=pip_requirements(),  # explicit: inferring them would load the model in a subprocess
        mlflow_model=mlflow_model,
        metadata={"project": PROJECT, "kind": asset},
    )
    return dest


def model_description(asset: str) -> str:
    """Registry description of a model: what it does, its inputs and outputs, how to load it."""
    kind = KINDS[asset]
    columns = "\n".join(f"- `{c}`: {_COLUMNS_HELP.get(c, c)}" for c in kind.inputs.input_names())
    output = kind.outputs.input_names()[0]
    knobs = f" Params: {', '.join(f'`{p}`' for p in kind.params)}." if kind.params else ""
    return (
        f"{kind.summary}\n\nInputs (one row per request):\n{columns}\n\nOutput: `{output}`.{knobs}\n\n"
        f"A pyfunc over the trained `save_pretrained` folder (artifact `{ARTIFACT}`), loaded with the "
        f"{PROJECT} project's own loaders: `mlflow.pyfunc.load_model('models:/<name>/<version>')` needs the "
        "project installed (`pip install -e <checkout>`)."
    )


def version_description(asset: str, dataset_version: str, run_id: str, summary: dict[str, Any]) -> str:
    """Registry description of one version: the data and the run that made it."""
    facts = ", ".join(f"{k} {v}" for k, v in summary.items() if isinstance(v, int | float | str))
    return (
        f"{asset} trained on training_dataset {dataset_version} in MLflow run {run_id}"
        + (f" ({facts})" if facts else "")
        + "."
    )

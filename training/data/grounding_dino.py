"""Paper backend for canvas and occluder detection: Grounding DINO boxes and SAM box-prompted masks.

The paper (Sec. 4 "Datasets") segments every frame with Grounding DINO [Liu et al. 2023c] and crops
to the canvas. This module holds the model loading and the batched inference shared by the canvas
detector (`training.data.canvas.paper_detector`) and the occluder detector
(`training.data.hand_detector`); load a `GroundingDino` once and pass it to both.

Weights come from a Hugging Face hub id or a local directory (Grounding DINO) and from a local
checkpoint file (SAM, the `segment_anything` package). Nothing is downloaded when the weights are
already local or when `HF_HUB_OFFLINE` is set; `weights_available` / `sam_weights_available` answer
"can this backend run here" without touching the network, for the `auto` backend choice.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

DEFAULT_GROUNDING_MODEL = "IDEA-Research/grounding-dino-base"
SAM_CHECKPOINT_URLS = {
    "vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    "vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
}
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights that cannot be loaded here; the message names the model and how to provide it."""


@dataclass(frozen=True)
class Detection:
    """One grounded box: corners in source-image pixels (x1, y1, x2, y2), confidence and matched phrase."""

    box_xyxy: np.ndarray
    score: float
    label: str


# ---------------------------------------------------------------- availability (no network)


def _is_offline() -> bool:
    from huggingface_hub import constants

    # huggingface_hub reads the variable once at import; also honour it when set later in the process
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _local_model_dir_complete(path: Path) -> bool:
    return (
        (path / "config.json").is_file()
        and any((path / name).is_file() for name in _WEIGHT_FILES)
        and any((path / name).is_file() for name in _PROCESSOR_FILES)
    )


def _looks_like_path(model: str) -> bool:
    return Path(model).expanduser().exists() or model.startswith(("/", ".", "~")) or not _HUB_ID.match(model)


def _cached_file(repo_id: str, filename: str, cache_dir: Path | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    except ValueError:  # HFValidationError (a ValueError) for strings that are not repo ids
        return False
    return isinstance(found, str)


def weights_available(model: str | Path, cache_dir: Path | None = None) -> bool:
    """True if Grounding DINO `model` can be loaded without the network.

    `model` is a local directory (config, weights and processor files present) or a hub id whose
    config, weights and processor config are in the local Hugging Face cache (`cache_dir`, default
    the standard cache honouring `HF_HOME`/`HF_HUB_CACHE`). Never contacts the hub.
    """
    model = str(model)
    local = Path(model).expanduser()
    if local.is_dir():
        return _local_model_dir_complete(local)
    if _looks_like_path(model):
        return False
    return (
        _cached_file(model, "config.json", cache_dir)
        and any(_cached_file(model, name, cache_dir) for name in _WEIGHT_FILES)
        and any(_cached_file(model, name, cache_dir) for name in _PROCESSOR_FILES)
    )


def sam_weights_available(checkpoint: Path | str | None) -> bool:
    """True if `checkpoint` is an existing, non-empty SAM checkpoint file."""
    if checkpoint is None:
        return False
    path = Path(checkpoint).expanduser()
    return path.is_file() and path.stat().st_size > 0


def _grounding_unavailable(model: str, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Grounding DINO weights {model!r} are not available: {reason}. "
        f"On a machine with network run `hf download {model if _HUB_ID.match(model) else DEFAULT_GROUNDING_MODEL}` "
        "(then copy the Hugging Face cache here, or set HF_HUB_CACHE to it), or pass a local directory that holds "
        "config.json, model.safetensors and the processor files (preprocessor_config.json or processor_config.json "
        "plus the tokenizer), e.g. one written by `save_pretrained`. Or use the weight-free backend."
    )


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' means CUDA when available, else CPU; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# ---------------------------------------------------------------- Grounding DINO


def normalize_prompt(prompt: str) -> str:
    """Grounding DINO's text format: lower case, phrases separated by '. ', ending with '.'."""
    phrases = prompt_phrases(prompt)
    if not phrases:
        raise ValueError(f"Empty detection prompt {prompt!r}: give phrases separated by dots, e.g. 'canvas. painting.'")
    return ". ".join(phrases) + "."


def prompt_phrases(prompt: str) -> list[str]:
    """The dot-separated phrases of a prompt, lower-cased, e.g. 'Hand. paintbrush.' -> ['hand', 'paintbrush']."""
    return [" ".join(part.split()).lower() for part in prompt.split(".") if part.strip()]


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Raise a clear error unless `image` is an RGB uint8 array (H, W, 3)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"{what} must be an RGB uint8 array of shape (H, W, 3), got shape {shape} dtype {dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{what} is too small to detect anything: shape {image.shape}")
    return image


class GroundingDino:
    """Grounding DINO (transformers) loaded once, run batched over images for a text prompt.

    `model` is a hub id (default `IDEA-Research/grounding-dino-base`) or a local directory written by
    `save_pretrained` (model + processor). `device="auto"` picks CUDA when available; weights run in
    fp16 on CUDA and fp32 on CPU. Hub weights are read from the local cache when present, and are
    never fetched when `HF_HUB_OFFLINE` is set: then a missing model raises `WeightsUnavailableError`.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_GROUNDING_MODEL,
        device: str = "auto",
        batch_size: int = 4,
        cache_dir: Path | None = None,
    ) -> None:
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id = str(model)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        source = self._check_source(cache_dir)
        local_only = _is_offline() or weights_available(self.model_id, cache_dir)
        try:
            self.processor = AutoProcessor.from_pretrained(source, cache_dir=cache_dir, local_files_only=local_only)
            network = GroundingDinoForObjectDetection.from_pretrained(
                source, cache_dir=cache_dir, local_files_only=local_only, dtype=self.dtype
            )
        except OSError as error:
            raise _grounding_unavailable(self.model_id, f"loading failed ({error})") from error
        self.network = network.to(self.device).eval()
        log.info("Grounding DINO %s loaded on %s (%s)", self.model_id, self.device, self.dtype)

    def _check_source(self, cache_dir: Path | None) -> str:
        local = Path(self.model_id).expanduser()
        if local.is_dir():
            if not _local_model_dir_complete(local):
                raise _grounding_unavailable(
                    self.model_id, "the directory lacks config.json, the weights or the processor config"
                )
            return str(local)
        if _looks_like_path(self.model_id):
            raise _grounding_unavailable(self.model_id, "not a model directory and not a hub id (owner/name)")
        if _is_offline() and not weights_available(self.model_id, cache_dir):
            raise _grounding_unavailable(self.model_id, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
        return self.model_id

    @torch.inference_mode()
    def detect(
        self,
        images: Sequence[np.ndarray],
        prompt: str,
        box_threshold: float = 0.35,
        text_threshold: float = 0.25,
    ) -> list[list[Detection]]:
        """Boxes for `prompt` in each RGB image, best first, in source pixels clipped to the image.

        A box is kept when its best token score exceeds `box_threshold`; its label is the prompt text
        whose tokens score above `text_threshold` (empty when none does). Runs `batch_size` images
        per forward pass.
        """
        for i, image in enumerate(images):
            check_image(image, f"image {i}")
        text = normalize_prompt(prompt)
        results: list[list[Detection]] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start : start + self.batch_size])
            results.extend(self._detect_chunk(chunk, text, box_threshold, text_threshold))
        return results

    def _detect_chunk(
        self, images: list[np.ndarray], text: str, box_threshold: float, text_threshold: float
    ) -> list[list[Detection]]:
        inputs = self.processor(
            images=images,
            text=[text] * len(images),
            return_tensors="pt",
            padding=True,
            input_data_format="channels_last",
        ).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        outputs = self.network(**inputs)
        # fp16 box coordinates lose half a pixel at 1000 px: post-process in fp32
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        sizes = [(image.shape[0], image.shape[1]) for image in images]
        processed = self.processor.post_process_grounded_object_detection(
            outputs,
            input_ids=inputs["input_ids"],
            threshold=box_threshold,
            text_threshold=text_threshold,
            target_sizes=sizes,
        )
        return [self._to_detections(result, size) for result, size in zip(processed, sizes, strict=True)]

    def _to_detections(self, result: dict, size: tuple[int, int]) -> list[Detection]:
        height, width = size
        boxes = result["boxes"].detach().cpu().numpy().astype(np.float32).reshape(-1, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        scores = result["scores"].detach().cpu().numpy().astype(float)
        labels = [self._clean_label(label) for label in result["text_labels"]]
        order = np.argsort(-scores, kind="stable")
        return [Detection(box_xyxy=boxes[i], score=float(scores[i]), label=labels[i]) for i in order]

    def _clean_label(self, label: str) -> str:
        # the decoded token span may include [SEP] and the prompt's separator dots
        special = set(self.processor.tokenizer.all_special_tokens)
        words = [word for word in label.replace(".", " ").split() if word not in special]
        return " ".join(words)


# ---------------------------------------------------------------- SAM (segment_anything)


def _sam_builders() -> dict[str, Callable[..., torch.nn.Module]]:
    from segment_anything.build_sam import _build_sam, sam_model_registry

    builders = {name: builder for name, builder in sam_model_registry.items() if name != "default"}
    # Same SAM wiring at a width and depth that run in a fraction of a second on CPU; only for tests.
    builders["tiny"] = partial(
        _build_sam, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=[1]
    )
    return builders


def build_sam_model(model_type: str = "vit_b") -> torch.nn.Module:
    """A randomly initialised SAM of `model_type` ('vit_h', 'vit_l', 'vit_b' or the test-only 'tiny')."""
    builders = _sam_builders()
    if model_type not in builders:
        raise ValueError(f"Unknown SAM model_type {model_type!r}; use one of {sorted(builders)}")
    return builders[model_type](checkpoint=None)


def load_sam(checkpoint: Path | str, model_type: str = "vit_b", device: str = "auto") -> torch.nn.Module:
    """SAM of `model_type` with the state dict in `checkpoint` (e.g. sam_vit_b_01ec64.pth), in eval mode.

    Every model type, the official ones and the test-only 'tiny', goes through this same code: build
    the architecture with segment_anything's builder, then load the state dict on CPU (so a
    checkpoint saved on a GPU loads anywhere) and move it to the device.
    """
    path = Path(checkpoint).expanduser()
    if not sam_weights_available(path):
        url = SAM_CHECKPOINT_URLS.get(model_type, SAM_CHECKPOINT_URLS["vit_b"])
        raise WeightsUnavailableError(
            f"SAM checkpoint {str(path)!r} (model_type {model_type!r}) not found or empty. Download {url} on a "
            "machine with network and pass its local path, or run without SAM (canvas = Grounding DINO box)."
        )
    sam = build_sam_model(model_type)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        sam.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"SAM checkpoint {str(path)!r} does not match model_type {model_type!r}: pass the model_type the "
            f"checkpoint was trained as (file names say it, e.g. sam_vit_b_*.pth is 'vit_b'). {str(error)[:300]}"
        ) from error
    return sam.to(resolve_device(device)).eval()


class SamRefiner:
    """Box prompt -> object mask with Segment Anything (`segment_anything.SamPredictor`).

    The image embedding dominates the cost: SAM ViT-B takes about 30 s per 640x480 image on this
    CPU (2 cores), so it is meant to run once per stable canvas segment (the tracking module calls
    the canvas detector sparingly), not on every frame. Several boxes on one image share one
    embedding (`masks`).
    """

    def __init__(self, checkpoint: Path | str, model_type: str = "vit_b", device: str = "auto") -> None:
        from segment_anything import SamPredictor

        self.checkpoint = Path(checkpoint)
        self.model_type = model_type
        self.predictor = SamPredictor(load_sam(checkpoint, model_type, device))

    @torch.inference_mode()
    def masks(self, image: np.ndarray, boxes_xyxy: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One boolean (H, W) mask per box (x1, y1, x2, y2 in image pixels) on `image`."""
        check_image(image)
        if not boxes_xyxy:
            return []
        self.predictor.set_image(image, image_format="RGB")
        masks = []
        for box in boxes_xyxy:
            box = np.asarray(box, dtype=np.float32).reshape(4)
            predicted, _, _ = self.predictor.predict(box=box, multimask_output=False)
            masks.append(np.asarray(predicted[0], dtype=bool))
        self.predictor.reset_image()
        return masks

    def mask(self, image: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
        """Boolean (H, W) mask of the object inside `box_xyxy` on `image`."""
        return self.masks(image, [box_xyxy])[0]

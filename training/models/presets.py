"""Model presets: ``paper`` (Stable Diffusion 1.5 family, App. A) and ``tiny`` (same classes, CPU-sized).

Both presets are loaded by the same ``from_pretrained(source, subfolder=...)`` calls. ``paper`` names hub
ids (or local copies of them); ``tiny`` names a local folder in the Stable Diffusion layout (``unet``,
``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``, ``image_encoder``) that ``build_tiny_base``
fills with small random-initialised models, which the tiny preset then trains from scratch.

Tiny preset choices (the ``paper`` preset keeps the paper: SD VAE latents, ε-prediction, Eq. 1, 25 Euler-
ancestral steps, guidance 5 / 5 / 5 / 2). Images at 64x64 in pixel space through
:class:`~training.models.codec.PixelCodec` (space-to-depth ×4 -> 16x16x48 "latents", lossless, so nothing has to
learn an autoencoder first); UNets with block channels (64, 64, 64), attention at the two lower levels,
cross-attention dim 32; frozen random CLIP text (2 layers, 32 wide, 77 tokens) and vision (32 px, 8 px patches,
projection 32) encoders; a CLIP BPE tokenizer whose vocabulary holds the bytes plus the studio's label words.

What made the tiny renderer paint (issue 16; ``benchmarks/renderer_diagnostics.py``,
tests/training/test_renderer_learns.py).
Before, it ignored the target: the same canvas, text and mask gave the same frame for two targets, and one
teacher-forced step lost to copying I_{t-1} (0.180 vs 0.184 D̄ on 24 validation pairs).

- **The target reaches the output** (``renderer_composite``): g_u outputs three fields per latent channel,
  opacity α, finish β and a paint colour P, and the frame is canvas + σ(α) · (σ(β) · I_T + (1 − σ(β)) · tanh(P)
  − canvas): paint lands where the opacity opens, and is either the target as it will look (finished) or an
  underpainting colour. Before, I_T reached g_u only through ReferenceNet tokens at 8x8 and 4x4 with no place on
  the canvas. The fields are upsampled and composed with the full-size canvas and target, so frames keep the
  painting's detail instead of 64 px (a frame at 64 px is 0.12-0.37 D̄ from the painting at 512 px).
- **Paint is a bounded colour** (tanh): unbounded, the renderer settled on half-open opacity times colours far
  outside [-1, 1], a sub-pixel grid of magenta and green (one pair: D̄ 0.26 -> 0.13 after 300 steps).
- **The opacity starts half open** (``ALPHA_INIT_LOGIT`` 0, was -4): the saturated sigmoid passed 1/15 of
  the gradient (-> 0.10).
- **One step** (``renderer_one_step``): g_u regresses z_0 from the conditions in one call (no noisy latent,
  timestep 0) instead of denoising from noise; the same three pairs reached D̄ 0.040 after 1000 steps, a
  z_0-predicting diffusion renderer 0.074, and an update costs one g_u call per guidance branch.
- **Position-aware reference attention** (``reference_positional``): queries and keys of the ReferenceNet
  attention carry a sinusoidal code of their place, so g_u can read the target where it paints. Routes of I_T
  into g_u, one teacher-forced step on 24 validation pairs after 300 s of training with the composite: this
  0.106 D̄, plain reference attention 0.114, I_T also into g_f (the paper's -RN wiring) 0.113; the output
  composition itself carries most of the target (copying I_{t-1}: 0.184).
- **Lossless conditioning layouts** (``feature_space_to_depth``, ``mask_space_to_depth``): g_f and the mask
  generator take [I_{t-1}, M_t] and M_d as the codec's space-to-depth cells instead of strided convolutions
  and area averages, and the mask generator outputs its 4x4 cells (a 64x64 mask, not 16x16 blocks of 32 px on
  a 512-px canvas: validation mask IoU 0.50 -> 0.54).
- **No guidance by default** (``guidance``): App. A.4's scales took rollouts to D̄ ~0.9 (garbage); see the
  sweep in ``benchmarks/renderer_diagnostics.py``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

PAPER_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # g_mask UNet, VAE E_I, text encoder g_p, tokenizer
PAPER_RENDERER_UNET = "SG161222/Realistic_Vision_V5.1_noVAE"  # g_u and g_r initialisation (App. A.3)
PAPER_IMAGE_ENCODER = "openai/clip-vit-large-patch14"  # CLIP ViT-L/14, 768-d projection
PAPER_TEXT_GENERATOR = "liuhaotian/llava-v1.5-7b"  # g_text (another module loads it)

TINY_WORDS = (
    "sky",
    "clouds",
    "sun",
    "moon",
    "mountains",
    "distant",
    "hills",
    "water",
    "lake",
    "trees",
    "pine",
    "grass",
    "meadow",
    "reflection",
    "reflections",
    "rocks",
    "flowers",
    "birds",
    "details",
    "background",
    "foreground",
    "sea",
    "river",
    "field",
)


@dataclass(frozen=True)
class Preset:
    """Where the pretrained parts come from and the App. A training hyper-parameters."""

    name: str
    resolution: int  # square side the images are resized to
    base: str  # SD-1.5 layout: unet, vae, text_encoder, tokenizer, scheduler
    renderer_unet: str  # folder/hub id whose `unet` subfolder initialises g_u and g_r
    renderer_unet_subfolder: str
    image_encoder: str
    image_encoder_subfolder: str  # "" when the id is the encoder itself
    text_generator: str
    mixed_precision: str  # accelerate: "no" | "fp16" | "bf16"
    feature_channels: int  # g_f output channels concatenated with z_s
    feature_block_channels: tuple[int, int, int]
    time_hidden_dims: tuple[int, int]
    mask_lr: float
    mask_batch_size: int
    mask_steps: int
    renderer_lr: float
    renderer_batch_size: int
    renderer_steps: int
    # inference defaults the renderer carries: guidance scales (text, mask, time, predicted CLIP), sampler steps S
    guidance: tuple[float, float, float, float] = (5.0, 5.0, 5.0, 2.0)  # App. A.4
    sampler_steps: int = 25  # App. A.4
    # The renderer regresses z_0 - E(I_{t-1}), the change from the current canvas, instead of z_0 (tiny only:
    # with ~500 CPU steps a z_0 model repaints the whole canvas blurrily and loses to copying I_{t-1}).
    renderer_residual: bool = False
    # With renderer_residual: g_u outputs per-latent-channel opacity logits and a paint colour, and the change is
    # sigmoid(opacity) * (colour - E(I_{t-1})) (new paint laid over the canvas); "no change" is then a saturated
    # gate rather than an exact zero the regression has to hit everywhere (tiny only, see the module docstring)
    renderer_alpha: bool = False
    # with renderer_alpha: the paint is sigmoid(finish) · E(I_T) + (1 − sigmoid(finish)) · colour (tiny only)
    renderer_composite: bool = False
    # with renderer_residual: g_u regresses z_0 in one call from the conditions alone (no noisy latent, one
    # timestep) instead of denoising over S sampler steps (tiny only)
    renderer_one_step: bool = False
    # g_f reaches the latent resolution by pixel unshuffle instead of strided convs (tiny only)
    feature_space_to_depth: bool = False
    # masks travel as the pixel codec's space-to-depth cells: M_d into g_mask and M̂_t out of it at the model's
    # full resolution, not one value per latent cell (tiny only: 16×16 cells made 32-px blocks of a 512-px canvas)
    mask_space_to_depth: bool = False
    # reference attention whose queries and keys know each token's place on the canvas (tiny only)
    reference_positional: bool = False
    # "pretrained": the parts load from base / renderer_unet / image_encoder; "random": the same architectures
    # built from their configs (PAPER_ARCHITECTURE) with random weights, nothing loaded (paper-scale throughput
    # and memory runs on a machine without the weights)
    init: str = "pretrained"
    # with init "random": per part ("unet", "vae", "text_encoder", "image_encoder") config fields overriding
    # PAPER_ARCHITECTURE's (a scaled-down variant on the same code path, e.g. for tests)
    architecture: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init {self.init!r}: use one of {', '.join(INITS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    def part_config(self, part: str) -> dict:
        """The config a random-initialised ``part`` is built from: PAPER_ARCHITECTURE's, with the overrides."""
        return {**PAPER_ARCHITECTURE[part], **((self.architecture or {}).get(part) or {})}


INITS = ("pretrained", "random")

# The paper's architectures (App. A), for init "random": the SD-1.5 UNet (Realistic Vision V5.1, g_u and g_r's
# initialisation, is the same architecture) and VAE, CLIP ViT-L/14's text encoder (g_p) and vision tower.
SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
    flip_sin_to_cos=True,
    freq_shift=0,
    downsample_padding=1,
)
SD15_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
CLIP_L14_TEXT = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)
CLIP_L14_VISION = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    hidden_act="quick_gelu",
    projection_dim=768,
)
SD15_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
    clip_sample=False,
)
PAPER_ARCHITECTURE = {
    "unet": SD15_UNET,
    "vae": SD15_VAE,
    "text_encoder": CLIP_L14_TEXT,
    "image_encoder": CLIP_L14_VISION,
    "scheduler": SD15_SCHEDULER,
}

PAPER = Preset(
    name="paper",
    resolution=512,
    base=PAPER_BASE,
    renderer_unet=PAPER_RENDERER_UNET,
    renderer_unet_subfolder="unet",
    image_encoder=PAPER_IMAGE_ENCODER,
    image_encoder_subfolder="",
    text_generator=PAPER_TEXT_GENERATOR,
    # the paper trains in fp16; bf16 has float32's exponent range (no loss scaling) at the same speed on Ampere
    # and Hopper. The training assets pass their resolved TrainConfig.dtype instead (fp16 where bf16 is missing)
    mixed_precision="bf16",
    feature_channels=16,
    feature_block_channels=(32, 96, 256),
    time_hidden_dims=(256, 512),
    mask_lr=1e-5,
    mask_batch_size=1,
    mask_steps=80_000,
    renderer_lr=1e-5,
    renderer_batch_size=1,
    renderer_steps=200_000,
)

_TINY_TEMPLATE = Preset(
    name="tiny",
    resolution=64,
    base="",
    renderer_unet="",
    renderer_unet_subfolder="unet",
    image_encoder="",
    image_encoder_subfolder="image_encoder",
    text_generator="",
    mixed_precision="no",
    feature_channels=64,  # >= the 48 latent channels, so g_f can pass I_{t-1} on whole
    feature_block_channels=(32, 64, 64),
    time_hidden_dims=(64, 64),
    mask_lr=1e-3,
    mask_batch_size=8,
    mask_steps=600,
    renderer_lr=1e-3,
    renderer_batch_size=8,
    renderer_steps=600,
    renderer_residual=True,
    renderer_alpha=True,
    renderer_composite=True,
    renderer_one_step=True,
    feature_space_to_depth=True,
    mask_space_to_depth=True,
    reference_positional=True,
    # unguided: App. A.4's scales took rollouts to D 0.9 (benchmarks/renderer_diagnostics.py)
    guidance=(1.0, 1.0, 1.0, 1.0),
    sampler_steps=1,  # one-step regressor
)
TINY_CROSS_DIM = 32


def tiny_preset(root: Path | str, seed: int = 0) -> Preset:
    """The tiny preset rooted at ``root``; builds its random base models there on first use."""
    root = Path(root)
    if not (root / "model_index.json").exists():
        from training.data.storage import atomic_dir

        with atomic_dir(root) as tmp:  # a killed build never leaves a half-written base behind
            build_tiny_base(tmp, seed=seed)
    return replace(_TINY_TEMPLATE, base=str(root), renderer_unet=str(root), image_encoder=str(root), text_generator="")


def get_preset(name: str, tiny_root: Path | str | None = None, init: str = "pretrained") -> Preset:
    """``paper`` or ``tiny`` (the latter needs ``tiny_root``, the folder for its random base models).

    ``init`` "random" builds the paper's architectures with random weights; the tiny preset is random-initialised
    (its base folder) whatever ``init`` says."""
    if init not in INITS:
        raise ValueError(f"init {init!r}: use one of {', '.join(INITS)}")
    if name == "paper":
        return PAPER if init == "pretrained" else replace(PAPER, init=init)
    if name == "tiny":
        if tiny_root is None:
            raise ValueError("the tiny preset needs tiny_root: a folder where its random base models are kept")
        return tiny_preset(tiny_root)
    raise ValueError(f"unknown preset {name!r}; use 'paper' or 'tiny'")


def resolve_source(source: Preset | str | Path) -> Preset | Path:
    """``"paper"`` -> the paper preset; a Preset stays; anything else is a saved model folder."""
    if isinstance(source, Preset):
        return source
    if str(source) == "paper":
        return PAPER
    if str(source) == "tiny":
        raise ValueError("the tiny preset is tiny_preset(root): it needs a folder for its random base models")
    return Path(source)


# ------------------------------------------------------------------------------------------ tiny


def build_tiny_tokenizer(path: Path, words: tuple[str, ...] | list[str] = TINY_WORDS):
    """A CLIP BPE tokenizer: every byte (alone and word-final) plus whole-word merges for ``words``."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        for tok in (ch, ch + "</w>"):
            vocab.setdefault(tok, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in dict.fromkeys(w.lower() for w in words):
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            if pair not in merges:
                merges.append(pair)
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    tok.save_pretrained(path)
    return tok


def tiny_unet_config(in_channels: int, out_channels: int, sample_size: int = 16) -> dict:
    return dict(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=out_channels,
        # first level >= the 48 latent channels: with 32 the renderer's outputs stayed blurry
        block_out_channels=(64, 64, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=TINY_CROSS_DIM,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def build_tiny_base(root: Path | str, seed: int = 0, prediction_type: str = "sample") -> Path:
    """Random-init tiny counterparts of the pretrained parts, saved in the Stable Diffusion folder layout."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    from .codec import PixelCodec

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tok = build_tiny_tokenizer(root / "tokenizer")
    codec = PixelCodec(factor=4)
    codec.save_pretrained(root / "vae")
    c = codec.latent_channels
    UNet2DConditionModel(**tiny_unet_config(c, c)).save_pretrained(root / "unet")
    text_cfg = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=TINY_CROSS_DIM,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TINY_CROSS_DIM,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    CLIPTextModel(text_cfg).save_pretrained(root / "text_encoder")
    vision_cfg = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=TINY_CROSS_DIM,
    )
    CLIPVisionModelWithProjection(vision_cfg).save_pretrained(root / "image_encoder")
    # Stable Diffusion 1.5's noise schedule; the tiny renderer predicts z_0 instead of ε (see module docstring)
    DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=prediction_type,
    ).save_pretrained(root / "scheduler")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "TinyInversePaintingBase", "seed": seed}))
    return root

"""A tiny random-weight LLaVA-1.5 (CLIP vision tower + Llama) saved like `llava-hf/llava-1.5-7b-hf`.

Product code, not a test fixture: the text generator's `tiny` preset trains this model from scratch,
and tests load it through the same `from_pretrained` path a GPU user runs with the hub id.
"""

from __future__ import annotations

from pathlib import Path

from training.labels.prompts import P_INSTRUCT, P_LABEL

# The chat template llava-hf ships with llava-1.5-7b-hf: "USER: <image>\n{prompt} ASSISTANT: {answer}".
LLAVA_15_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' ' }}{% endgeneration %}{% endfor %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
SPECIAL_TOKENS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
IMAGE_TOKEN = "<image>"
# ~1/sqrt(hidden size): at the 7B model's 0.02 a 32-wide random model ignores its image input entirely
INIT_STD = 0.15


def _build_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE (lossless for any text) whose merges make whole words of the prompts and `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    # each text also with a leading space, so it is a whole-word token after "ASSISTANT:" too
    corpus = [P_LABEL, P_INSTRUCT, "USER: ASSISTANT:", *texts, *(" " + t for t in texts)]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = [*SPECIAL_TOKENS.values(), IMAGE_TOKEN]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(corpus, trainer=trainer)
    # like Llama's tokenizer: every sequence starts with <s>
    bos = SPECIAL_TOKENS["bos_token"]
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, core.token_to_id(bos))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        **SPECIAL_TOKENS,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
        add_bos_token=True,
    )
    tokenizer.chat_template = LLAVA_15_CHAT_TEMPLATE
    return tokenizer


def build_tiny_llava(
    out_dir: Path | str,
    texts: list[str],
    image_size: int = 32,
    seed: int = 0,
    patch_size: int = 8,
    hidden_size: int = 32,
) -> Path:
    """Build and `save_pretrained` a tiny `LlavaForConditionalGeneration` + `LlavaProcessor` into `out_dir`.

    `texts` (labels, answers) join the two App. A.2 prompts as the tokenizer's training corpus, so they
    tokenize to few tokens. Returns `out_dir`, loadable with `from_pretrained` like the hub id.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    if image_size % patch_size:
        raise ValueError(f"image_size={image_size} must be a multiple of patch_size={patch_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(list(texts), vocab_size=1024)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, removed again by the "default" strategy
        chat_template=LLAVA_15_CHAT_TEMPLATE,
    )
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in SPECIAL_TOKENS.items()}
    vision = CLIPVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=hidden_size,
        initializer_range=INIT_STD,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=ids["bos_token"],
        eos_token_id=ids["eos_token"],
        pad_token_id=ids["pad_token"],
        initializer_range=INIT_STD,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.bos_token_id = ids["bos_token"]
    model.generation_config.eos_token_id = ids["eos_token"]
    model.generation_config.pad_token_id = ids["pad_token"]
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out

"""Text instruction generator g_text: LLaVA-1.5 fine-tuned (LoRA, or in full at tiny size) on [I_{t-1} | I_T]."""

from training.labels.compose import side_by_side

from .conversations import Conversation, read_conversations, write_conversations
from .inference import TextGenerator
from .presets import PRESETS, TextGeneratorPreset, get_preset
from .train import train_text_generator

__all__ = [
    "PRESETS",
    "Conversation",
    "TextGenerator",
    "TextGeneratorPreset",
    "get_preset",
    "read_conversations",
    "side_by_side",
    "train_text_generator",
    "write_conversations",
]

"""The two LLaVA prompts of App. A.2 (verbatim), their hash, and answer normalisation."""

from __future__ import annotations

import hashlib
import re

# p': asked of the pretrained LLaVA on [I_{t-1} | I_t] to produce the ground-truth instruction p_t.
P_LABEL = (
    "There are two images side by side. The right image is the next step of the left image in the painting "
    "process of a painting. Please tell me what is added to right image? The answer should be less than 2 words."
)
# p: the test-time question of the text generator g_text on [I_{t-1} | I_T].
P_INSTRUCT = (
    "There are two images side by side. The left image is an intermediate stage in a painting process of the "
    "right image. Please tell me what content should be painted next? The answer should be less than 2 words."
)

_PUNCT = " \t\r\n.,;:!?\"'`()[]{}*-_"
_LEAD = re.compile(r"^(the answer is|answer|assistant)\s*[:\-]?\s*", re.IGNORECASE)
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


def prompt_hash(text: str) -> str:
    """First 12 hex digits of the prompt's sha256 (recorded with every auto label)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _words(part: str, limit: int) -> str:
    part = _ARTICLE.sub("", part.strip(_PUNCT))
    return " ".join(part.split()[:limit]).strip(_PUNCT)


def normalise(answer: str) -> str:
    """A short lower-case label: first line, leading 'the answer is'/articles dropped, punctuation trimmed.

    Comma lists are kept ("Mountain, sky" -> "mountain, sky"), each item cut to 2 words; a single answer
    is cut to 2 words. Returns "" when nothing is left.
    """
    text = answer.strip().splitlines()[0] if answer.strip() else ""
    text = _LEAD.sub("", text.strip().lower())
    if "," in text:
        items = [_words(p, 2) for p in text.split(",")]
        return ", ".join(i for i in items if i)
    return _words(text, 2)

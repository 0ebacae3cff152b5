"""Reconstruction chats for masked SFT, tokenized once so that the collator can mask afresh at every step.

A rendered example is ``pre + masked copy + mid + target copy + post`` where the masked copy and the target copy are
the same token ids (the document, or a completion). Both copies are tokenized from the same ids, so position ``i`` of
the masked span and position ``i`` of the target span are twins. A target too long for ``max_length`` is cut from its
end in both copies (`fit_target`), and the caller counts what was cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from ..common import IGNORE_INDEX, system_turn

_MASKED = "\ue000MASKED\ue000"
_TARGET = "\ue000TARGET\ue000"


@dataclass(frozen=True)
class ReconstructionTemplate:
    """How a reconstruction chat reads.

    ``instruction`` is the user turn; it holds ``{masked}`` (the masked copy) and, for prompt/completion data,
    ``{prompt}``. ``response_prefix`` opens the assistant turn before the target copy and carries no loss.
    """

    instruction: str
    response_prefix: str = ""
    system_prompt: str | None = None

    def __post_init__(self):
        if self.instruction.count("{masked}") != 1:
            raise ValueError(
                f"The instruction template must contain '{{masked}}' exactly once, got {self.instruction!r}."
            )


def check_chat_template(tokenizer: PreTrainedTokenizerBase) -> None:
    """Masked SFT speaks to the model through its chat template: refuse a tokenizer that has none."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"The tokenizer of {tokenizer.name_or_path!r} has no chat template. Masked SFT builds a user/assistant "
            "chat; use an instruct model's tokenizer or set `tokenizer.chat_template` (for example a ChatML template) "
            "before creating the trainer."
        )


def render_segments(
    tokenizer: PreTrainedTokenizerBase, template: ReconstructionTemplate, prompt: str | None = None
) -> tuple[str, str, str]:
    """The chat text around the two copies, rendered with the model's own chat template: ``(pre, mid, post)``."""
    fields = {"masked": _MASKED} if prompt is None else {"masked": _MASKED, "prompt": prompt}
    try:
        user = template.instruction.format(**fields)
    except KeyError as err:
        raise ValueError(f"The instruction template uses {err} but the data has no such field.") from err
    messages = [
        *system_turn(template.system_prompt),
        {"role": "user", "content": user},
        {"role": "assistant", "content": template.response_prefix + _TARGET},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    pre, rest = text.split(_MASKED)
    mid, post = rest.split(_TARGET)
    return pre, mid, post


def end_of_turn_length(tokenizer: PreTrainedTokenizerBase, post_ids: list[int]) -> int:
    """How many tokens after the target are supervised: up to and including the first special token (the end of
    turn), or all of them where the template closes the turn with plain text."""
    special = set(tokenizer.all_special_ids)
    for i, token_id in enumerate(post_ids):
        if token_id in special:
            return i + 1
    return len(post_ids)


@dataclass(frozen=True)
class ChatFrame:
    """The token ids of a reconstruction chat around its two copies (``pre``, ``mid``, ``post``) and how many of the
    ``post`` ids are supervised (the end of turn, `end_of_turn_length`)."""

    pre: tuple[int, ...]
    mid: tuple[int, ...]
    post: tuple[int, ...]
    end_of_turn: int

    @classmethod
    def from_segments(cls, tokenizer: PreTrainedTokenizerBase, segments: tuple[str, str, str]) -> ChatFrame:
        pre, mid, post = (tuple(tokenizer.encode(s, add_special_tokens=False)) for s in segments)
        return cls(pre, mid, post, end_of_turn_length(tokenizer, list(post)))

    @property
    def overhead(self) -> int:
        """Tokens of the chat besides the two copies."""
        return len(self.pre) + len(self.mid) + len(self.post)

    def room(self, max_length: int | None) -> int | None:
        """The most target tokens that fit `max_length` in both copies (None: no limit)."""
        return None if max_length is None else (max_length - self.overhead) // 2


def fit_target(target_ids: list[int], frame: ChatFrame, max_length: int | None = None) -> tuple[list[int], int]:
    """``(kept ids, number of ids cut)``: the target cut from its end so that both copies fit ``max_length``; a clear
    error when the chat alone leaves no room."""
    room = frame.room(max_length)
    if room is None or len(target_ids) <= room:
        return target_ids, 0
    if room < 1:
        raise ValueError(
            f"`max_length`={max_length} leaves no room for the text: the chat around it alone takes {frame.overhead} "
            "tokens. Raise `max_length` or shorten the instruction/prompt."
        )
    return target_ids[:room], len(target_ids) - room


def reconstruction_example(target_ids: list[int], frame: ChatFrame) -> dict[str, list[int] | int]:
    """Token ids, labels and the twin spans of one reconstruction example: ``pre + target + mid + target + post``,
    labels on the target copy and the end of turn."""
    if not target_ids:
        raise ValueError("Found an empty document/completion; remove empty rows from the dataset.")
    pre, mid, post = list(frame.pre), list(frame.mid), list(frame.post)
    n, eot = len(target_ids), frame.end_of_turn
    twin_start = len(pre) + n + len(mid)
    labels = [IGNORE_INDEX] * twin_start + target_ids + post[:eot] + [IGNORE_INDEX] * (len(post) - eot)
    return {
        "input_ids": pre + target_ids + mid + target_ids + post,
        "labels": labels,
        "span_start": len(pre),
        "twin_start": twin_start,
        "span_length": n,
    }

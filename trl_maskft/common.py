"""What several methods share: the paper this package implements (`PAPER`, cited by every trainer's model card), the
label that carries no loss (`IGNORE_INDEX`), the random streams of training and evaluation draws, and the system turn
that opens a chat."""

from __future__ import annotations

IGNORE_INDEX = -100

# Random streams: training and evaluation draw their masks (masked SFT) and noise (diffusion SFT) from different
# streams of the same seed, so evaluation sees the same draws at every evaluation, unlike any training draw; the replay
# rows mixed into training batches (`trl_maskft.training.replay_mixing`) are drawn from a third
TRAIN_STREAM, EVAL_STREAM, REPLAY_STREAM = 0, 1, 2

PAPER = {
    "title": "Diffusion-Inspired Masked Fine-Tuning for Knowledge Injection in Autoregressive LLMs",
    "id": "2510.09885",
    "citation": (
        "@article{pan2025masked,\n"
        "    title  = {{Diffusion-Inspired Masked Fine-Tuning for Knowledge Injection in Autoregressive LLMs}},\n"
        "    author = {Pan and others},\n"
        "    year   = 2025,\n"
        "    eprint = {arXiv:2510.09885}\n"
        "}"
    ),
}


def system_turn(system_prompt: str | None) -> list[dict[str, str]]:
    """The system message that opens a chat, as a list: empty when `system_prompt` is None (the template's default)."""
    return [] if system_prompt is None else [{"role": "system", "content": system_prompt}]

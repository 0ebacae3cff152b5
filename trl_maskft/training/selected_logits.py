"""A cheaper loss for CPU runs: only the supervised positions are projected onto the vocabulary.

TRL's `SFTTrainer` computes the loss with a fused LM head that never builds the logits. On devices with Triton it
scores only the positions whose next token is supervised; elsewhere (CPUs) it scores every position, folding each
vocabulary tile with a dozen torch operations. A reconstruction chat supervises about half its positions (the target
copy and the end of turn), and on 2 CPU cores the fused head took ~28% of a default masked SFT step
(docs/time_to_cure.md). `SelectedLogitsLossMixin` computes the same loss on such devices from the logits of the
supervised positions only (`logits_to_keep` with a boolean mask of them), with TRL's `entropy`,
`mean_token_accuracy` and `num_tokens` metrics; everywhere else, and whenever TRL's loss is anything but its plain
negative log-likelihood, it leaves `compute_loss` to TRL.
"""

from __future__ import annotations

import inspect

import torch

from ..common import IGNORE_INDEX


def accepts_logits_to_keep(model) -> bool:
    """Whether the forward of ``model`` (or of the base model under a PEFT wrapper) takes ``logits_to_keep``, so that
    only the needed positions are projected onto the vocabulary (transformers models do, remote code may not)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def next_token_positions(labels: torch.Tensor) -> torch.Tensor:
    """The ``(B, L)`` positions whose logits predict a supervised next token: position i where ``labels[:, i + 1]``
    is not ignored (the last position predicts nothing)."""
    positions = torch.zeros_like(labels, dtype=torch.bool)
    positions[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return positions


def selected_nll(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihood of `targets` under `logits` (``(N, V)``, computed in float32), and the
    detached per-token entropy and whether the target is the argmax (TRL's metrics)."""
    log_probs = logits.float().log_softmax(dim=-1)
    nll = -log_probs.gather(1, targets[:, None]).squeeze(1)
    with torch.no_grad():
        entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
        is_top1 = log_probs.argmax(dim=-1) == targets
    return nll, entropy, is_top1


class SelectedLogitsLossMixin:
    """For `SFTTrainer` subclasses: the plain NLL loss from the supervised positions' logits on devices where TRL's
    fused LM head would score every position (see the module's doc)."""

    eval_metric_names = ("entropy", "mean_token_accuracy", "num_tokens")  # logged as `eval_*`, as TRL's loss does

    def _selects_logits(self, model, return_outputs: bool) -> bool:
        device = next(model.parameters()).device
        plain_nll = self.args.loss_type == "nll" and self.label_smoother is None and self.compute_loss_func is None
        return (
            device.type == "cpu"
            and not return_outputs
            and plain_nll
            and not self.aux_loss_enabled
            and accepts_logits_to_keep(model)
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._selects_logits(model, return_outputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if model.training else "eval"
        labels = inputs["labels"]
        positions = next_token_positions(labels)
        model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
        logits = model(**model_inputs, use_cache=False, logits_to_keep=positions).logits
        nll, entropy, is_top1 = selected_nll(logits, labels[:, 1:][labels[:, 1:] != IGNORE_INDEX])
        num_valid = positions.sum()
        denominator = num_valid if num_items_in_batch is None else num_items_in_batch
        loss = nll.sum() / torch.as_tensor(denominator).clamp(min=1)
        # Like TRL's: `num_items_in_batch` counts every rank's tokens, and DDP averages the gradients across ranks
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        gather = self.accelerator.gather_for_metrics
        valid = gather(num_valid).sum()
        entropy_sum, correct = gather(entropy.sum()).sum(), gather(is_top1.sum()).sum()
        self._metrics[mode]["entropy"].append((entropy_sum / valid).item() if valid > 0 else 0.0)
        self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
        if mode == "train":
            counted = inputs["attention_mask"].sum() if "attention_mask" in inputs else inputs["position_ids"].size(1)
            self._total_train_tokens += gather(torch.as_tensor(counted, device=labels.device)).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

"""`ReplayTrainerMixin`: the replay rows and the KL to the base model in every method's trainer.

After the method's trainer is built, `add_replay` wraps its collator in a `ReplayCollator` (the run's replay rows,
`trl_maskft.training.replay_data`), and, with `kl_to_base`, gets the base model: the same model with its adapters
disabled under PEFT (no memory), otherwise a frozen copy, refused where it cannot be held (`check_base_copy`).

The loss of a training batch with replay rows is

    (1 - replay_ratio) * method loss (the document rows, as without replay)
    + replay_ratio * replay loss (mean NLL of the replay rows' answer tokens, next-token prediction)
    + kl_to_base * mean over the same tokens of KL(base || trained)

the two replay terms computed from one more forward of the model on the replay rows, scaled for gradient
accumulation as the method's loss is.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager

import psutil
import torch
from accelerate.utils import gather_object

from ..common import IGNORE_INDEX
from ..evaluation.answering import GreedyAnswerer
from ..evaluation.generation import chat_prompts, greedy_config
from ..evaluation.qa_callback import drop_padding
from .replay_data import replay_examples
from .replay_mixing import ReplayCollator, ReplayEpochCallback, split_replay
from .selected_logits import accepts_logits_to_keep, next_token_positions


def replay_losses(logits: torch.Tensor, base_logits: torch.Tensor | None, targets: torch.Tensor):
    """Mean NLL of `targets` under `logits` (``(N, V)``) and mean KL(base || trained) per token (0 without base)."""
    log_probs = logits.float().log_softmax(dim=-1)
    nll = -log_probs.gather(1, targets[:, None]).mean()
    if base_logits is None:
        return nll, torch.zeros((), device=logits.device)
    base_log_probs = base_logits.float().log_softmax(dim=-1)
    kl = (base_log_probs.exp() * (base_log_probs - log_probs)).sum(dim=-1).mean()
    return nll, kl


def is_peft(model) -> bool:
    """Whether `model` is a PEFT model, whose adapters can be disabled (`disable_adapter`) to run the base model."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def available_bytes(device: torch.device) -> int:
    """Free memory of the model's device: the accelerator's, or the machine's RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


COPY_FIX = (
    "Set `use_peft: true` (the base is then the model with its adapters disabled, at no cost) or a smaller model."
)


def launch_shards(args) -> bool:
    """Whether `args` or the launcher (`accelerate launch` with an FSDP or DeepSpeed config) shards the model, known
    before the model is loaded."""
    launched = [
        os.environ.get(f"ACCELERATE_USE_{name}", "").lower() in ("1", "true") for name in ("FSDP", "DEEPSPEED")
    ]
    return bool(args.fsdp or args.deepspeed) or any(launched)


def check_copy_shardable(args, sharded: bool) -> None:
    """Refuse `kl_to_base` without PEFT on a `sharded` model (FSDP, DeepSpeed): its frozen copy is not sharded. The
    scripts call it before the model is loaded (`launch_shards`), the trainers again once it is."""
    if getattr(args, "kl_to_base", 0) > 0 and sharded:  # a plain `SFTConfig` has no replay keys
        raise ValueError(
            f"`kl_to_base: {args.kl_to_base}` without PEFT needs a frozen copy of the model, which this package does "
            f"not shard under DeepSpeed or FSDP. {COPY_FIX}"
        )


def check_base_copy(args, model) -> None:
    """Refuse a frozen copy of `model` that cannot be held in the free memory of its device."""
    device = next(model.parameters()).device
    needed = sum(p.numel() * p.element_size() for p in model.parameters())
    free = available_bytes(device)
    if needed > free:
        raise ValueError(
            f"`kl_to_base: {args.kl_to_base}` without PEFT needs a frozen copy of the model: {needed / 2**30:.2f} GiB "
            f"of parameters, but only {free / 2**30:.2f} GiB is free on {device}. {COPY_FIX}"
        )


def frozen_copy(model):
    """A copy of `model` in eval mode without gradients, whose `forward` is its own: a `forward` set on the instance
    (the trainers' wrappers) would still run the original model, so the class's is used."""
    base = copy.deepcopy(model).eval().requires_grad_(False)
    base.__dict__.pop("forward", None)
    return base


class ReplayTrainerMixin:
    """For the method trainers (before `SFTTrainer` in the bases): call `add_replay()` at the end of `__init__`."""

    base_model = None  # the frozen copy of the model for `kl_to_base` without PEFT

    def add_replay(self) -> None:
        args = self.args
        if getattr(args, "replay_ratio", 0) == 0:  # off, or a plain `SFTConfig` (the baseline trainer takes one)
            return
        tokenizer = self.processing_class
        examples = replay_examples(args, tokenizer, self._base_answers, self.accelerator.is_main_process)
        self.data_collator = ReplayCollator(
            self.data_collator, examples, args.replay_ratio, tokenizer.pad_token_id, args.seed
        )
        self.add_callback(ReplayEpochCallback(self.data_collator))
        if args.kl_to_base > 0 and not is_peft(self.model):
            check_copy_shardable(args, self.is_fsdp_enabled or self.is_deepspeed_enabled or launch_shards(args))
            check_base_copy(args, self.model)
            self.base_model = frozen_copy(self.model)

    def _base_answers(self, instructions: list[str]) -> list[str]:
        """The model's greedy answers to `instructions`, split across processes and gathered in order."""
        accelerator, tokenizer = self.accelerator, self.processing_class
        answerer = GreedyAnswerer(greedy_config(self.args.replay_max_new_tokens))
        prompts = chat_prompts(tokenizer, instructions)
        training = self.model.training
        self.model.eval()
        with accelerator.split_between_processes(prompts, apply_padding=True) as local_prompts:
            local = answerer(self.model, tokenizer, local_prompts)
        self.model.train(training)
        if accelerator.num_processes == 1:
            return local
        return drop_padding(gather_object([local]), len(instructions))

    @contextmanager
    def _base(self, model):
        """The base model: the copy, or `model` with its adapters disabled."""
        if self.base_model is not None:
            yield self.base_model
            return
        unwrapped = self.accelerator.unwrap_model(model)
        with unwrapped.disable_adapter():
            yield unwrapped

    def _replay_terms(self, model, replay: dict) -> tuple[torch.Tensor, torch.Tensor]:
        labels = replay["labels"]
        positions = next_token_positions(labels)
        targets = labels[:, 1:][labels[:, 1:] != IGNORE_INDEX]
        inputs = {"input_ids": replay["input_ids"], "attention_mask": replay["attention_mask"], "use_cache": False}

        selects = accepts_logits_to_keep(self.accelerator.unwrap_model(model))

        def logits_of(forward):
            if selects:
                return forward(**inputs, logits_to_keep=positions).logits
            return forward(**inputs).logits[positions]

        logits = logits_of(model)
        base_logits = None
        if self.args.kl_to_base > 0:
            with torch.no_grad(), self._base(model) as base:
                base_logits = logits_of(base)
        return replay_losses(logits, base_logits, targets)

    def _loss_scaled_for_ga(self, num_items_in_batch) -> bool:
        """Whether `Trainer.training_step` leaves the loss undivided by the gradient accumulation steps (its rule)."""
        if self.loss_is_scaled_for_ga is not None:
            return self.loss_is_scaled_for_ga
        return (
            self.model_accepts_loss_kwargs and num_items_in_batch is not None
        ) or self.compute_loss_func is not None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs, replay = split_replay(inputs)
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if not replay:
            return result
        loss, outputs = result if return_outputs else (result, None)
        loss = self.with_replay_loss(model, loss, replay, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def with_replay_loss(self, model, loss: torch.Tensor, replay: dict, num_items_in_batch) -> torch.Tensor:
        """The method's `loss` of a batch combined with the replay terms of its replay rows (see the module's doc);
        a trainer that computes its loss itself (diffusion SFT) calls it on the `split_replay` of its inputs."""
        ratio = self.args.replay_ratio
        nll, kl = self._replay_terms(model, replay)
        extra = ratio * nll + self.args.kl_to_base * kl
        if self._loss_scaled_for_ga(num_items_in_batch):
            extra = extra / self.current_gradient_accumulation_steps
        loss = (1 - ratio) * loss + extra
        mode = "train" if model.training else "eval"
        self._metrics[mode]["replay_loss"].append(self.accelerator.gather_for_metrics(nll.detach()).mean().item())
        if self.args.kl_to_base > 0:
            self._metrics[mode]["kl_to_base"].append(self.accelerator.gather_for_metrics(kl.detach()).mean().item())
        return loss

    def evaluation_collator(self):
        """The collator of evaluation and test batches: the method's own, without replay rows (masked SFT: its
        evaluation masks)."""
        collator = self.data_collator
        return collator.collator if isinstance(collator, ReplayCollator) else collator

    @contextmanager
    def _collating_for_eval(self):
        train_collator, self.data_collator = self.data_collator, self.evaluation_collator()
        try:
            yield
        finally:
            self.data_collator = train_collator

    def get_eval_dataloader(self, eval_dataset=None):
        with self._collating_for_eval():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._collating_for_eval():
            return super().get_test_dataloader(test_dataset)

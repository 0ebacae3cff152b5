"""Diffusion SFT trainer: masked-diffusion fine-tuning (LLaDA) of a bidirectional or causal-made-bidirectional LM."""

from __future__ import annotations

from typing import Any

from datasets import Dataset, IterableDataset
from transformers import AutoConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.dynamic_module_utils import get_class_from_dynamic_module
from trl import SFTTrainer
from trl.chat_template_utils import get_training_chat_template

from ..common import EVAL_STREAM, IGNORE_INDEX, TRAIN_STREAM
from ..common import PAPER as MASKED_SFT_PAPER
from ..evaluation.model_card import MethodModelCardMixin
from ..runtime.default_model import resolve_model
from ..runtime.safe_checkpoints import SafeCheckpointsMixin
from ..training.mask_token import check_mask_token_absent, named_splits, resolve_mask_token_id
from ..training.replay_mixing import join_replay, split_replay
from ..training.replay_trainer import ReplayTrainerMixin
from ..training.selected_logits import accepts_logits_to_keep
from ..training.tokenizer import training_tokenizer
from ..training.truncation_counting import TruncationCountingMixin
from .answerer import DiffusionAnswerer
from .config import DiffusionSFTConfig
from .noise import (
    bidirectional_attention_mask,
    check_bidirectional_support,
    diffusion_loss,
    draw_masks,
    loss_weights,
    make_loadable_on_transformers_5,
    prediction_positions,
    supervise_padding,
)

PAPER = {
    "title": "Large Language Diffusion Models",
    "id": "2502.09992",
    "citation": (
        "@article{nie2025large,\n"
        "    title  = {{Large Language Diffusion Models}},\n"
        "    author = {Nie, Shen and Zhu, Fengqi and You, Zebin and Zhang, Xiaolu and Ou, Jingyang and Hu, Jun and "
        "Zhou, Jun and Lin, Yankai and Wen, Ji-Rong and Li, Chongxuan},\n"
        "    year   = 2025,\n"
        "    eprint = {arXiv:2502.09992}\n"
        "}\n" + MASKED_SFT_PAPER["citation"]
    ),
}


def add_mask_token(tokenizer: PreTrainedTokenizerBase, mask_token: str) -> bool:
    """Add ``mask_token`` as a special token unless the tokenizer already has it; whether it was added."""
    if mask_token in tokenizer.get_vocab():
        return False
    tokenizer.add_special_tokens({"extra_special_tokens": [mask_token]}, replace_extra_special_tokens=False)
    return True


def has_messages(*datasets: Dataset | IterableDataset | dict | None) -> bool:
    """Whether any of the datasets (or dicts of datasets) is conversational language modeling (a `messages` column)."""
    for dataset in datasets:
        for split in dataset.values() if isinstance(dataset, dict) else [dataset]:
            if split is not None and "messages" in next(iter(split), {}):
                return True
    return False


def check_assistant_masks(tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise a clear error unless TRL can mask the assistant turns of conversations rendered by ``tokenizer``."""
    problem = None
    if tokenizer.chat_template is None:
        problem = "the tokenizer has no chat template"
    else:
        try:
            get_training_chat_template(tokenizer)  # None when the template has generation markers, else a patch
        except ValueError as error:
            problem = str(error).rstrip(".")
    if problem is not None:
        raise ValueError(
            "Diffusion SFT never masks the prompt, so conversational `messages` data is trained on the assistant "
            "turns only (`assistant_only_loss`), which needs a chat template whose assistant turns are wrapped in "
            f"`{{% generation %}}` ... `{{% endgeneration %}}`: {problem}. Give the tokenizer such a template, or use "
            "prompt/completion data."
        )


def prepare_remote_code(model_id: str, revision: str | None = None) -> None:
    """Make the remote-code class `SFTTrainer` will load for ``model_id`` (``auto_map["AutoModelForCausalLM"]``, e.g.
    LLaDA's `LLaDAModelLM`) loadable on transformers 5.x, see `make_loadable_on_transformers_5`."""
    config = AutoConfig.from_pretrained(model_id, trust_remote_code=True, revision=revision)
    class_reference = (getattr(config, "auto_map", None) or {}).get("AutoModelForCausalLM")
    if class_reference is not None:
        make_loadable_on_transformers_5(get_class_from_dynamic_module(class_reference, model_id, revision=revision))


class DiffusionSFTTrainer(
    MethodModelCardMixin, SafeCheckpointsMixin, ReplayTrainerMixin, TruncationCountingMixin, SFTTrainer
):
    """[`~trl.SFTTrainer`] that trains a masked-diffusion language model (LLaDA SFT).

    The data is prepared by `SFTTrainer` (prompt/completion, conversational or raw text). At every step, supervised
    tokens are masked with probability p = (1 - eps) t + eps and the model, run without a causal mask, recovers them
    (from the logits of the previous position with `shift_logits`); the cross-entropy of each masked token is weighted
    by 1 / p (see [`DiffusionSFTConfig`]). The prompt is never masked: only the completion of prompt/completion data
    and the assistant turns of conversational `messages` data (TRL's `assistant_only_loss`, turned on for such data)
    are supervised; for raw text, everything but the BOS token (or the first token, with `shift_logits`). Logs
    `mask_ratio` and `masked_token_accuracy`.

    Args:
        model: model id, path or instance (as in `SFTTrainer`), or the alias `"smollm2-135m-instruct"`. With
            `bidirectional=True` it must use `sdpa` or `eager` attention. A remote-code model given by id with
            `trust_remote_code` (LLaDA) is made loadable on transformers 5.x first (`prepare_remote_code`).
        args: a [`DiffusionSFTConfig`].
        train_dataset, eval_dataset: datasets in any text format `SFTTrainer` accepts.
        processing_class: the tokenizer; loaded from the model when omitted.
        Other arguments are passed to `SFTTrainer` (callbacks, optimizers, peft_config, ...).
    """

    _tag_names = ["trl", "sft", "diffusion-sft", "trl-maskft"]
    eval_metric_names = ("mask_ratio", "masked_token_accuracy")  # logged as `eval_*` beside the loss
    _name = "Diffusion SFT"
    _paper = PAPER
    # `compute_loss` divides by the normalizer of the whole accumulated batch, see `get_batch_samples`
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: DiffusionSFTConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        **kwargs,
    ):
        model = resolve_model(model)  # the embedded default model's alias, too
        if args is None:
            raise ValueError(
                "Pass a `DiffusionSFTConfig`: it must name the mask token (`mask_token`/`mask_token_id`)."
            )
        if not isinstance(args, DiffusionSFTConfig):
            raise TypeError(f"`args` must be a DiffusionSFTConfig, got {type(args).__name__}.")
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError("DiffusionSFTTrainer computes its own loss; do not pass `compute_loss_func`.")
        processing_class = training_tokenizer(model, processing_class, args.trust_remote_code)
        if has_messages(train_dataset, eval_dataset):
            check_assistant_masks(processing_class)
            args.assistant_only_loss = True
        model_init_kwargs = args.model_init_kwargs or {}
        if isinstance(model, str) and model_init_kwargs.get("trust_remote_code", args.trust_remote_code):
            prepare_remote_code(model, model_init_kwargs.get("revision"))
        added = args.add_mask_token and add_mask_token(processing_class, args.mask_token)
        if added and kwargs.get("peft_config") is not None:
            raise ValueError(
                f"`add_mask_token` would add {args.mask_token!r} after PEFT froze the embeddings. Add the token to "
                "the tokenizer and resize the model's embeddings before creating the trainer, or use an existing "
                "token."
            )
        mask_token_id = resolve_mask_token_id(processing_class, args.mask_token, args.mask_token_id)
        special = {"pad": processing_class.pad_token_id, "eos": processing_class.eos_token_id}
        for name, token_id in special.items():
            if mask_token_id == token_id:
                raise ValueError(
                    f"The mask token id {mask_token_id} is also the {name} token id: masked positions and {name} "
                    f"tokens would be indistinguishable. Use a dedicated mask token (see `add_mask_token`)."
                )
        self.mask_token_id = mask_token_id
        self._eval_rows = 0
        super().__init__(
            model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
            processing_class=processing_class, **kwargs,
        )  # fmt: skip
        if added:
            self.model.resize_token_embeddings(len(processing_class))
        for split, data in [("training", self.train_dataset), *named_splits("evaluation", self.eval_dataset)]:
            check_mask_token_absent(data, processing_class, mask_token_id, args.allow_mask_token_in_data, split)
        num_embeddings = self.model.get_input_embeddings().num_embeddings
        if mask_token_id >= num_embeddings:
            raise ValueError(
                f"The mask token id {mask_token_id} is outside the model's embedding matrix of {num_embeddings} rows. "
                "Set `add_mask_token=True` to add the token and resize the embeddings, or pick an id of the model."
            )
        if args.bidirectional:
            check_bidirectional_support(self.model.config)
        self._accepts_logits_to_keep = accepts_logits_to_keep(self.model)
        self.add_replay()

    def _noise(self, inputs: dict[str, Any], step: int, row_offset: int, stream: int) -> dict[str, Any]:
        """The diffusion batch of a collated batch: masked inputs, targets on masked positions only, loss weights."""
        args, tokenizer = self.args, self.processing_class
        input_ids, labels, attention_mask = inputs["input_ids"], inputs["labels"], inputs["attention_mask"]
        labels = labels.clone()
        if args.shift_logits:  # the token at position i is predicted at i - 1: nothing predicts position 0
            labels[:, 0] = IGNORE_INDEX
        elif tokenizer.bos_token_id is not None:  # raw text: BOS is the condition, never a target
            labels[:, 0] = labels[:, 0].masked_fill(input_ids[:, 0] == tokenizer.bos_token_id, IGNORE_INDEX)
        if args.supervise_padding:
            input_ids, labels, attention_mask = supervise_padding(
                input_ids, labels, attention_mask, tokenizer.eos_token_id
            )
        supervised = labels != IGNORE_INDEX
        masked, p = draw_masks(
            supervised, args.seed, step, self.accelerator.process_index, row_offset, stream,
            args.t_scope, args.t_min, args.t_max, args.eps,
        )  # fmt: skip
        weights, denominator = loss_weights(masked, supervised, p, args.loss_normalization)
        return {
            "input_ids": input_ids.masked_fill(masked, self.mask_token_id),
            "attention_mask": attention_mask,
            "labels": labels.masked_fill(~masked, IGNORE_INDEX),
            "loss_weights": weights,
            "loss_denominator": denominator,
            "num_supervised": supervised.sum(),
        }

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Noise the micro-batches of one optimizer step and count the loss normalizer over all of them.

        Row ``j`` of the step (counted across micro-batches) draws from the generator of ``(seed, step, rank, j)``, so
        splitting the same rows into more micro-batches draws the same masks.
        """
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        step, offset, noised = self.state.global_step, 0, []
        for batch in batch_samples:
            own, replay = split_replay(batch)  # replay rows are trained as chat SFT, without noise
            noised.append(join_replay(self._noise(own, step, offset, TRAIN_STREAM), replay))
            offset += len(batch["input_ids"])
        if not noised:
            return noised, None
        num_items = sum(batch["loss_denominator"] for batch in noised).to(device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            num_items = self.accelerator.gather(num_items).sum()
        return noised, num_items

    def evaluate(self, *args, **kwargs):
        # Evaluation noise is keyed on the row index within the evaluation, the same at every evaluation
        self._eval_rows = 0
        return super().evaluate(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        inputs, replay = split_replay(inputs)
        if "loss_weights" not in inputs:  # evaluation batches do not go through `get_batch_samples`
            inputs = self._noise(inputs, 0, self._eval_rows, EVAL_STREAM)
            self._eval_rows += len(inputs["input_ids"])
        labels = inputs["labels"]
        masked = labels != IGNORE_INDEX
        attention_mask = inputs["attention_mask"]
        if self.args.bidirectional:
            attention_mask = bidirectional_attention_mask(attention_mask, self.model.dtype)
        # The positions whose logits predict the masked tokens: the masked positions, or those just before them with
        # `shift_logits`; only they are projected onto the vocabulary, unless the full logits are asked for
        positions = prediction_positions(masked, self.args.shift_logits)
        only_masked = self._accepts_logits_to_keep and not return_outputs
        kwargs = {"logits_to_keep": positions} if only_masked else {}
        outputs = model(input_ids=inputs["input_ids"], attention_mask=attention_mask, use_cache=False, **kwargs)
        logits = outputs.logits if only_masked else outputs.logits[positions]
        denominator = inputs["loss_denominator"] if num_items_in_batch is None else num_items_in_batch
        loss = diffusion_loss(logits, labels[masked], inputs["loss_weights"][masked], denominator)
        # Like `Trainer.compute_loss`: the normalizer counts every rank, and DDP averages the gradients across ranks
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes

        gather = self.accelerator.gather_for_metrics
        num_correct = gather((logits.detach().argmax(dim=-1) == labels[masked]).sum()).sum()
        num_masked, num_supervised = gather(masked.sum()).sum(), gather(inputs["num_supervised"]).sum()
        self._metrics[mode]["mask_ratio"].append((num_masked / num_supervised.clamp(min=1)).item())
        self._metrics[mode]["masked_token_accuracy"].append((num_correct / num_masked.clamp(min=1)).item())
        if replay:
            loss = self.with_replay_loss(model, loss, replay, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def default_answerer(self):
        return DiffusionAnswerer.for_training(self.args)

"""Masked SFT trainer: knowledge injection by reconstructing masked documents (arXiv 2510.09885)."""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager

from datasets import Dataset
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import SFTTrainer
from trl.trainer.utils import get_config_model_id

from .collators import DataCollatorForMaskedSFT
from .formatting import (
    ReconstructionTemplate,
    check_chat_template,
    render_segments,
    resolve_mask_token_id,
    tokenize_reconstruction,
)
from .mask_token_check import check_mask_token_absent
from .masked_sft_config import (
    COMPLETION_INSTRUCTION,
    DOCUMENT_INSTRUCTION,
    DOCUMENT_RESPONSE_PREFIX,
    MaskedSFTConfig,
)
from .masking import EVAL_STREAM
from .model_card import MethodModelCardMixin
from .packing import CHAT_FIELDS, check_padding_free_model, pack_chat_dataset
from .safe_checkpoints import SafeCheckpointsMixin

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


# How byte-level BPE ("Ġ") and SentencePiece ("▁") spell a leading space in their vocabularies; SentencePiece
# decoders strip that space from a lone token, so the raw spelling is checked too
SPACE_MARKERS = ("Ġ", "▁")


def word_start_token_ids(tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Ids of the vocabulary tokens that begin with whitespace, i.e. start a new word (for `mask_unit="word"`)."""
    return frozenset(
        i
        for token, i in tokenizer.get_vocab().items()
        if token.startswith(SPACE_MARKERS) or tokenizer.convert_tokens_to_string([token])[:1].isspace()
    )


def data_kind(dataset: Dataset, text_field: str) -> str:
    """``"completion"`` for prompt/completion data, ``"text"`` for documents; a clear error otherwise."""
    if len(dataset) == 0:
        raise ValueError(
            "The dataset has no rows; masked SFT needs at least one document or prompt/completion row. Check the "
            "data files and any filtering applied before the trainer."
        )
    columns = dataset.column_names
    if "prompt" in columns and "completion" in columns:
        kind = "completion"
    elif text_field in columns:
        kind = "text"
    else:
        raise ValueError(
            f"The dataset has columns {columns}, but masked SFT needs a `{text_field}` column of documents (see "
            "`dataset_text_field`) or `prompt` and `completion` columns."
        )
    sample = dataset[0]["completion" if kind == "completion" else text_field]
    if not isinstance(sample, str):
        raise ValueError(
            f"Masked SFT expects plain strings in the dataset, got {type(sample).__name__}; conversational rows are "
            "not supported. Flatten them to text or prompt/completion strings."
        )
    return kind


def tokenize_for_masking(
    dataset: Dataset, tokenizer: PreTrainedTokenizerBase, args: MaskedSFTConfig, kind: str | None = None
) -> Dataset:
    """Tokenize documents or prompt/completion rows (of `data_kind` ``kind``, found when not given) into
    reconstruction examples (``tokenize_reconstruction``)."""
    kind = kind or data_kind(dataset, args.dataset_text_field)
    is_completion = kind == "completion"
    template = ReconstructionTemplate(
        instruction=args.instruction or (COMPLETION_INSTRUCTION if is_completion else DOCUMENT_INSTRUCTION),
        response_prefix=args.response_prefix
        if args.response_prefix is not None
        else ("" if is_completion else DOCUMENT_RESPONSE_PREFIX),
        system_prompt=args.system_prompt,
    )
    shared_segments = None if is_completion else render_segments(tokenizer, template)

    def tokenize(row, idx):
        if is_completion:
            segments, target = render_segments(tokenizer, template, row["prompt"]), row["completion"]
        else:
            segments, target = shared_segments, row[args.dataset_text_field]
        if not target or not target.strip():
            raise ValueError(f"Row {idx} of the dataset is empty; remove empty documents/completions.")
        return {**tokenize_reconstruction(tokenizer, target, segments, args.max_length), "idx": idx}

    return dataset.map(
        tokenize,
        with_indices=True,
        remove_columns=dataset.column_names,
        num_proc=args.dataset_num_proc,
        desc="Tokenizing",
    )


class _MaskEpochCallback(TrainerCallback):
    """Tells the collator which epoch is starting, so masks are fresh per epoch and schedules advance.

    The schedule spans ``state.num_train_epochs``, the real length of the run (also when ``max_steps`` sets it).
    """

    def __init__(self, collator: DataCollatorForMaskedSFT):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(math.floor(state.epoch + 1e-6), state.num_train_epochs)


@contextmanager
def _packing_left_to_our_collator(args: MaskedSFTConfig):
    """Shows `SFTTrainer.__init__` `packing` and `padding_free` off: with them on it would refuse a custom collator
    and want to pack and collate itself, while here the datasets are packed already and the masking collator
    collates padding-free."""
    settings = args.packing, args.padding_free
    args.packing = args.padding_free = False
    try:
        yield
    finally:
        args.packing, args.padding_free = settings


class MaskedSFTTrainer(MethodModelCardMixin, SafeCheckpointsMixin, SFTTrainer):
    """[`~trl.SFTTrainer`] that trains a chat model to reconstruct randomly masked documents.

    Args:
        model: model id, path or instance (as in `SFTTrainer`).
        args: a [`MaskedSFTConfig`].
        train_dataset: documents in `args.dataset_text_field` (default `text`), or `prompt`/`completion` strings.
        eval_dataset: same format; evaluated as masked reconstruction, with masks that are the same at every
            evaluation (drawn by `eval_data_collator`).
        processing_class: the tokenizer; loaded from the model when omitted. It must have a chat template.
        Other arguments are passed to `SFTTrainer` (callbacks, optimizers, peft_config, ...).
    """

    _tag_names = ["trl", "sft", "masked-sft", "trl-maskft"]
    _name = "Masked SFT"
    _paper = PAPER

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: MaskedSFTConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        **kwargs,
    ):
        if args is None:
            name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = MaskedSFTConfig(f"{name.split('/')[-1]}-MaskedSFT")
        elif not isinstance(args, MaskedSFTConfig):
            raise TypeError(f"`args` must be a MaskedSFTConfig, got {type(args).__name__}.")
        if train_dataset is None:
            raise ValueError("`train_dataset` is required.")
        if "data_collator" in kwargs:
            raise ValueError("MaskedSFTTrainer builds its own masking collator; do not pass `data_collator`.")
        if processing_class is None:
            source = model if isinstance(model, str) else get_config_model_id(model.config)
            processing_class = AutoTokenizer.from_pretrained(source, trust_remote_code=args.trust_remote_code)
        check_chat_template(processing_class)
        if processing_class.pad_token is None:
            processing_class.pad_token = processing_class.eos_token
        mask_token_id = resolve_mask_token_id(processing_class, args.mask_token, args.mask_token_id)

        kind = data_kind(train_dataset, args.dataset_text_field)
        eval_packing = args.packing if args.eval_packing is None else args.eval_packing

        def prepare(dataset, packing, split, kind=None):
            dataset = tokenize_for_masking(dataset, processing_class, args, kind)
            check_mask_token_absent(
                dataset, processing_class, mask_token_id, args.allow_mask_token_in_data, split, reconstruction=True
            )
            return pack_chat_dataset(dataset, args.max_length, args.dataset_num_proc) if packing else dataset

        train_dataset = prepare(train_dataset, args.packing, "training", kind)
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                split: prepare(data, eval_packing, f"evaluation {split!r}") for split, data in eval_dataset.items()
            }
        elif eval_dataset is not None:
            eval_dataset = prepare(eval_dataset, eval_packing, "evaluation")

        self.mask_token_id = mask_token_id
        collator = DataCollatorForMaskedSFT(
            pad_token_id=processing_class.pad_token_id,
            mask_token_id=mask_token_id,
            seed=args.seed,
            ratio_mode=args.mask_ratio_mode,
            ratio_scope=args.mask_ratio_scope,
            ratio_min=args.mask_ratio_min,
            ratio_max=args.mask_ratio_max,
            ratio=args.mask_ratio,
            loss_on=args.loss_on or ("masked" if kind == "completion" else "all"),
            pad_to_multiple_of=args.pad_to_multiple_of,
            word_start_ids=word_start_token_ids(processing_class) if args.mask_unit == "word" else None,
            padding_free=args.padding_free or args.packing,
        )
        # Evaluation masks come from their own stream: the same at every evaluation, unlike any training mask
        self.eval_data_collator = dataclasses.replace(
            collator, stream=EVAL_STREAM, padding_free=collator.padding_free or eval_packing
        )
        args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
        callbacks = [*(kwargs.pop("callbacks", None) or []), _MaskEpochCallback(collator)]
        with _packing_left_to_our_collator(args):
            super().__init__(
                model,
                args=args,
                data_collator=collator,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                callbacks=callbacks,
                **kwargs,
            )
        if self.eval_data_collator.padding_free:
            check_padding_free_model(self.model)

    @contextmanager
    def _collating_for_eval(self):
        train_collator, self.data_collator = self.data_collator, self.eval_data_collator
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

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["input_ids", "labels", "seq_lengths", *CHAT_FIELDS]

"""Masked SFT trainer: knowledge injection by reconstructing masked documents (arXiv 2510.09885)."""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import SFTTrainer

from ..common import EVAL_STREAM, PAPER
from ..evaluation.model_card import MethodModelCardMixin
from ..runtime.default_model import resolve_model
from ..runtime.safe_checkpoints import SafeCheckpointsMixin
from ..training.mask_token import check_mask_token_absent, resolve_mask_token_id
from ..training.packing import CHAT_FIELDS, pack_chat_dataset, prepare_padding_free_model
from ..training.replay_trainer import ReplayTrainerMixin
from ..training.selected_logits import SelectedLogitsLossMixin
from ..training.tokenizer import model_id, training_tokenizer
from .chats import check_chat_template
from .collator import DataCollatorForMaskedSFT
from .config import MaskedSFTConfig
from .data import data_kind, tokenize_for_masking
from .unit_checks import log_views

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


def _checked_arguments(model, args: MaskedSFTConfig | None, train_dataset, kwargs: dict) -> MaskedSFTConfig:
    """`args` (a default `MaskedSFTConfig` named after the model when None), once the arguments are known to fit."""
    if args is None:
        args = MaskedSFTConfig(f"{model_id(model).split('/')[-1]}-MaskedSFT")
    elif not isinstance(args, MaskedSFTConfig):
        raise TypeError(f"`args` must be a MaskedSFTConfig, got {type(args).__name__}.")
    if train_dataset is None:
        raise ValueError("`train_dataset` is required.")
    if "data_collator" in kwargs:
        raise ValueError("MaskedSFTTrainer builds its own masking collator; do not pass `data_collator`.")
    return args


class MaskedSFTTrainer(
    MethodModelCardMixin, SafeCheckpointsMixin, ReplayTrainerMixin, SelectedLogitsLossMixin, SFTTrainer
):
    """[`~trl.SFTTrainer`] that trains a chat model to reconstruct randomly masked documents.

    Args:
        model: model id, path or instance (as in `SFTTrainer`), or the embedded default model's alias
            `"smollm2-135m-instruct"` (`trl_maskft.runtime.default_model.resolve_model_path`).
        args: a [`MaskedSFTConfig`].
        train_dataset: documents in `args.dataset_text_field` (default `text`), or `prompt`/`completion` strings; a
            `datasets.Dataset` or a streamed `datasets.IterableDataset` (with `max_steps`). Documents are split into
            chunks of `args.chunk_length` tokens when it is set; what `max_length` still cuts is counted in
            `data_reports` and logged.
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
        model = resolve_model(model)  # the embedded default model's alias, too
        args = _checked_arguments(model, args, train_dataset, kwargs)
        processing_class = training_tokenizer(model, processing_class, args.trust_remote_code)
        check_chat_template(processing_class)
        self.mask_token_id = resolve_mask_token_id(processing_class, args.mask_token, args.mask_token_id)
        kind = data_kind(train_dataset, args.dataset_text_field)
        eval_packing = args.packing if args.eval_packing is None else args.eval_packing
        self.data_reports = []  # what was chunked, cut or lost, per split (logged, printed by the scripts)
        train_dataset, eval_dataset = self._prepare_datasets(
            train_dataset, eval_dataset, processing_class, args, kind, eval_packing
        )
        collator = self._masking_collator(processing_class, args, kind)
        self.eval_data_collator = dataclasses.replace(  # own stream, one view: the same at every evaluation
            collator, stream=EVAL_STREAM, padding_free=collator.padding_free or eval_packing, views=1
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
            prepare_padding_free_model(self.model)
        self.add_replay()

    def _prepare_datasets(self, train_dataset, eval_dataset, processing_class, args, kind, eval_packing):
        """The reconstruction examples of every split, checked for the mask token, packed where asked; their data
        reports in `data_reports`, logged."""

        def prepare(dataset, packing, split, label, kind=None):
            dataset, report = tokenize_for_masking(dataset, processing_class, args, kind, split=split)
            self.data_reports.append(report)
            check_mask_token_absent(
                dataset,
                processing_class,
                self.mask_token_id,
                args.allow_mask_token_in_data,
                label,
                reconstruction=True,
            )
            return pack_chat_dataset(dataset, args.max_length, args.dataset_num_proc) if packing else dataset

        train_dataset = prepare(train_dataset, args.packing, "train", "training", kind)
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                k: prepare(data, eval_packing, f"eval {k}", f"evaluation {k!r}") for k, data in eval_dataset.items()
            }
        elif eval_dataset is not None:
            eval_dataset = prepare(eval_dataset, eval_packing, "eval", "evaluation")
        for report in self.data_reports:
            report.log()
        return train_dataset, eval_dataset

    def _masking_collator(self, processing_class, args: MaskedSFTConfig, kind: str) -> DataCollatorForMaskedSFT:
        """The training collator: masks drawn afresh at every step, as `args` asks."""
        log_views(args)
        return DataCollatorForMaskedSFT(
            pad_token_id=processing_class.pad_token_id,
            mask_token_id=self.mask_token_id,
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
            unit=args.mask_unit,
            span_mean=args.mask_span_mean,
            views=args.mask_views,
            complementary=args.mask_views_complementary,
        )

    def evaluation_collator(self):
        """Evaluation and test batches get the evaluation masks (see `ReplayTrainerMixin._collating_for_eval`)."""
        return self.eval_data_collator

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["input_ids", "labels", "seq_lengths", "entity_spans", *CHAT_FIELDS]

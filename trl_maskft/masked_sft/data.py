"""Masked SFT's data preparation: documents or prompt/completion rows, map-style or streamed, tokenized into
reconstruction examples (`trl_maskft.masked_sft.chats`), documents split into chunks of `chunk_length` tokens, and what
`max_length` still cuts counted in a `DataReport`.

Tokenization runs through `datasets.map` (`dataset_num_proc` processes), so a map-style dataset read from files is
tokenized once and read from the `datasets` cache by later runs with the same data and settings: the mapped functions
are module-level and receive only what they use (`fn_kwargs`), which hashes the same in every run.
"""

from __future__ import annotations

from datasets import Dataset, IterableDataset
from transformers import PreTrainedTokenizerBase

from ..data.corpus_text import first_row
from ..training.chunking import chunk_ids, content_key, row_key
from ..training.data_report import DataReport, prepared_report
from .chats import ChatFrame, ReconstructionTemplate, fit_target, reconstruction_example, render_segments
from .config import COMPLETION_INSTRUCTION, DOCUMENT_INSTRUCTION, DOCUMENT_RESPONSE_PREFIX
from .entity_spans import check_offsets, document_char_spans, token_spans
from .unit_checks import check_unit_data

STAT_COLUMNS = ("chunk", "lost_tokens")


def data_kind(dataset: Dataset | IterableDataset, text_field: str) -> str:
    """``"completion"`` for prompt/completion data, ``"text"`` for documents; a clear error otherwise."""
    row = first_row(dataset)
    if row is None:
        raise ValueError(
            "The dataset has no rows; masked SFT needs at least one document or prompt/completion row. Check the "
            "data files and any filtering applied before the trainer."
        )
    if "prompt" in row and "completion" in row:
        kind = "completion"
    elif text_field in row:
        kind = "text"
    else:
        raise ValueError(
            f"The dataset has columns {list(row)}, but masked SFT needs a `{text_field}` column of documents (see "
            "`dataset_text_field`) or `prompt` and `completion` columns."
        )
    sample = row["completion" if kind == "completion" else text_field]
    if not isinstance(sample, str):
        raise ValueError(
            f"Masked SFT expects plain strings in the dataset, got {type(sample).__name__}; conversational rows are "
            "not supported. Flatten them to text or prompt/completion strings."
        )
    return kind


def reconstruction_template(args, kind: str) -> ReconstructionTemplate:
    """The chat of `args` (a `MaskedSFTConfig`) for data of `kind`, with the defaults of that kind."""
    is_completion = kind == "completion"
    default_prefix = "" if is_completion else DOCUMENT_RESPONSE_PREFIX
    return ReconstructionTemplate(
        instruction=args.instruction or (COMPLETION_INSTRUCTION if is_completion else DOCUMENT_INSTRUCTION),
        response_prefix=default_prefix if args.response_prefix is None else args.response_prefix,
        system_prompt=args.system_prompt,
    )


def check_chunk_fits(frame: ChatFrame, chunk_length: int | None, max_length: int | None) -> None:
    """A chunk of `chunk_length` tokens must fit `max_length` twice with the chat around it."""
    room = frame.room(max_length)
    if chunk_length is None or room is None or chunk_length <= room:
        return
    needed = 2 * chunk_length + frame.overhead
    raise ValueError(
        f"`chunk_length`={chunk_length} does not fit `max_length`={max_length}: a reconstruction chat holds the chunk "
        f"twice plus {frame.overhead} tokens of chat, {needed} tokens. Raise `max_length` to at least {needed} or "
        f"lower `chunk_length` to at most {max(room, 0)}."
    )


def _add_example(
    out: dict, target: list[int], frame: ChatFrame, max_length, key: int, chunk: int, stream_row=None, entities=None
):
    """Append the example of `target`, its masks keyed on `key` (and its `entities`' token spans, for `mask_unit:
    entity`), to the batch `out`; a stream's row (`stream_row`, its text for the message) that would be cut is
    refused."""
    kept, lost = fit_target(target, frame, max_length)
    if lost and stream_row is not None:
        raise ValueError(
            f"A streamed row ({stream_row[:60]!r}...) does not fit `max_length`={max_length} ({lost} tokens too "
            "long); a stream is never cut silently. Set `chunk_length` (documents), raise `max_length`, or drop "
            "long rows before training."
        )
    example = reconstruction_example(kept, frame)
    example["idx"] = key
    if entities is not None:
        example["entity_spans"] = entities
    for name, value in example.items():
        out.setdefault(name, []).append(value)
    if stream_row is None:
        out.setdefault("chunk", []).append(chunk)
        out.setdefault("lost_tokens", []).append(lost)


def _entities(batch, indices, i, texts, entity_column, encoded):
    """`(character spans, offsets)` of document `i` of a batch for `mask_unit: entity`; `(None, None)` otherwise."""
    if entity_column is None:
        return None, None
    values = batch[entity_column] if entity_column in batch else [None] * len(texts)
    where = "A streamed row" if indices is None else f"Row {indices[i]}"
    return document_char_spans(texts[i], values[i], entity_column, where), encoded["offset_mapping"][i]


def document_examples(
    batch, indices=None, *, tokenizer, text_field, frame, chunk_length, max_length, entity_column=None
) -> dict:
    """Reconstruction examples of a batch of documents (`Dataset.map(batched=True)`): every chunk of every document,
    keyed on its row and chunk (`row_key`), or for a stream (no `indices`) on a hash of its document's tokens and its
    chunk number (`content_key`); with `entity_column` (`mask_unit: entity`), each chunk's entity token spans."""
    texts = batch[text_field]
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            where = "A streamed row" if indices is None else f"Row {indices[i]}"
            raise ValueError(
                f"{where} of the dataset has no document in `{text_field}` (got {text!r}); remove empty documents."
            )
    out: dict[str, list] = {}
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=entity_column is not None)
    for i, ids in enumerate(encoded["input_ids"]):
        document = content_key(ids) if indices is None else None
        char_spans, offsets = _entities(batch, indices, i, texts, entity_column, encoded)
        start = 0
        for chunk, target in enumerate(chunk_ids(ids, chunk_length)):
            entities = None if char_spans is None else token_spans(char_spans, offsets, start, start + len(target))
            start += len(target)
            if indices is None:
                key = content_key([document, chunk])
                _add_example(out, target, frame, max_length, key, chunk, stream_row=texts[i], entities=entities)
            else:
                key = row_key(indices[i], chunk, chunk_length is not None)
                _add_example(out, target, frame, max_length, key, chunk, entities=entities)
    return out


def completion_example(row, idx=None, *, tokenizer, template, max_length) -> dict:
    """The reconstruction example of one prompt/completion row (`Dataset.map`), keyed on `idx`, or for a stream on a
    hash of its prompt and completion tokens."""
    if not isinstance(row["completion"], str) or not row["completion"].strip():
        raise ValueError(f"Row {idx} of the dataset has an empty completion; remove empty completions.")
    frame = ChatFrame.from_segments(tokenizer, render_segments(tokenizer, template, row["prompt"]))
    out: dict[str, list] = {}
    target = tokenizer.encode(row["completion"], add_special_tokens=False)
    if idx is None:
        key = content_key([*frame.pre, *target])
        _add_example(out, target, frame, max_length, key, 0, stream_row=row["prompt"])
    else:
        _add_example(out, target, frame, max_length, idx, 0)
    return {name: values[0] for name, values in out.items()}


def check_stream(args, kind: str, split: str) -> None:
    """What a stream needs: documents chunked (a stream cannot be counted ahead, so it is never cut), and, in
    training, a mask-ratio schedule that does not span epochs (a stream has no number of epochs)."""
    if kind == "text" and args.chunk_length is None and args.max_length is not None:
        raise ValueError(
            "Streamed documents need `chunk_length` (e.g. 512, the paper's): a stream cannot be counted ahead, and "
            "chunks that fit `max_length` guarantee that no token is cut. Set `chunk_length`, or `max_length: null`."
        )
    if split == "train" and args.mask_ratio_mode == "linear":
        raise ValueError(
            "`mask_ratio_mode: linear` moves the ratio over the epochs of the run, and a streamed dataset has no "
            "number of epochs. Use `uniform` or `fixed`, or a map-style dataset (`dataset_streaming: false`)."
        )


def tokenize_for_masking(
    dataset: Dataset | IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    args,
    kind: str | None = None,
    split: str = "train",
) -> tuple[Dataset | IterableDataset, DataReport]:
    """Reconstruction examples of `dataset` (documents or prompt/completion rows of `data_kind` ``kind``, found when
    not given) under `args` (a `MaskedSFTConfig`), and the report of what was chunked, cut or lost."""
    kind = kind or data_kind(dataset, args.dataset_text_field)
    template = reconstruction_template(args, kind)
    streamed = isinstance(dataset, IterableDataset)
    entities = args.mask_unit == "entity"
    if kind == "completion":
        if args.chunk_length is not None:
            raise ValueError("`chunk_length` splits documents; prompt/completion rows are not chunked. Unset it.")
        if entities:
            raise ValueError(
                "`mask_unit: entity` hides the entities of documents (a `text` column); prompt/completion rows have "
                "none. Use `mask_unit: span` or `word` for completions."
            )
        function, batched = completion_example, False
        fn_kwargs = {"tokenizer": tokenizer, "template": template, "max_length": args.max_length}
    else:
        frame = ChatFrame.from_segments(tokenizer, render_segments(tokenizer, template))
        check_chunk_fits(frame, args.chunk_length, args.max_length)
        function, batched = document_examples, True
        fn_kwargs = {"tokenizer": tokenizer, "text_field": args.dataset_text_field, "frame": frame}
        fn_kwargs.update(chunk_length=args.chunk_length, max_length=args.max_length)
        if entities:
            check_offsets(tokenizer)
            fn_kwargs["entity_column"] = args.entity_spans_column
    settings = {"chunk_length": args.chunk_length, "max_length": args.max_length}
    settings["unit"] = "completion tokens" if kind == "completion" else "document tokens"
    if streamed:
        check_stream(args, kind, split)
        mapped = dataset.map(function, batched=batched, fn_kwargs=fn_kwargs, remove_columns=list(first_row(dataset)))
        return mapped, DataReport(split, streamed=True, **settings)
    mapped = dataset.map(
        function,
        batched=batched,
        with_indices=True,
        fn_kwargs=fn_kwargs,
        remove_columns=dataset.column_names,
        num_proc=args.dataset_num_proc,
        desc="Tokenizing",
    )
    report = prepared_report(split, len(dataset), mapped, "span_length", **settings)
    counts = [len(spans) for spans in mapped["entity_spans"]] if entities else None
    check_unit_data(mapped["span_length"], counts, args, split)
    return mapped.remove_columns(list(STAT_COLUMNS)), report

"""The rows an autoregressive baseline trains on from a corpus kept in `datasets`: its documents as raw text or as
``sft_prompt -> document`` chats, whole or cut into the same chunks of `chunk_length` tokens as masked SFT's
(`trl_maskft.training.chunking`), or its QA pairs (`train_on: qa`) as chats.

Raw-text chunks are token ids (the tokenizer's leading special tokens, the chunk, the end of text, as TRL tokenizes a
text row), so they are exactly masked SFT's chunks; chat chunks are the chunks decoded to text, which the chat
template tokenizes again (a chunk boundary inside a word or a multi-byte character can tokenize slightly
differently).
"""

from __future__ import annotations

from datasets import Dataset, IterableDataset

from ..training.chunking import chunk_ids
from ..training.data_report import DataReport, prepared_report
from .corpus_text import column_names
from .transforms import sft_row, to_conversational


def document_chats(batch: dict, *, text_field: str, prompt: str, system_prompt: str | None) -> dict:
    """A batch of documents as plain SFT chats (`sft_row`)."""
    rows = [sft_row(text, prompt, system_prompt) for text in batch[text_field]]
    return {column: [row[column] for row in rows] for column in ("prompt", "completion")}


def chunk_rows(batch: dict, *, tokenizer, text_field, chunk_length, sft_format, prompt, system_prompt, ends) -> dict:
    """A batch of documents as rows of one chunk each: token ids between `ends` (leading ids, trailing ids) for
    `sft_format="text"`, a chat of the decoded chunk for "chat"; with the stat columns `chunk`, `document_tokens`."""
    out: dict[str, list] = {"chunk": [], "document_tokens": []}
    for ids in tokenizer(batch[text_field], add_special_tokens=False)["input_ids"]:
        for number, chunk in enumerate(chunk_ids(ids, chunk_length)):
            if sft_format == "text":
                out.setdefault("input_ids", []).append([*ends[0], *chunk, *ends[1]])
            else:
                for column, value in sft_row(tokenizer.decode(chunk), prompt, system_prompt).items():
                    out.setdefault(column, []).append(value)
            out["chunk"].append(number)
            out["document_tokens"].append(len(chunk))
    return out


def text_ends(tokenizer) -> tuple[list[int], list[int]]:
    """The ids TRL puts around a raw-text row: the tokenizer's own leading special tokens and the end of text."""
    return tokenizer("")["input_ids"], [tokenizer.eos_token_id]


def baseline_rows(
    dataset: Dataset | IterableDataset,
    text_field: str,
    sft_format: str,
    prompt: str,
    system_prompt: str | None = None,
    tokenizer=None,
    chunk_length: int | None = None,
    max_length: int | None = None,
    num_proc: int | None = None,
    split: str = "train",
) -> tuple[Dataset | IterableDataset, DataReport | None]:
    """The baseline's rows of `dataset` (see the module's doc), and with `chunk_length` the report of the chunking
    (None without: `BaselineSFTTrainer` reports what `max_length` cuts)."""
    streamed = isinstance(dataset, IterableDataset)
    columns = column_names(dataset)
    kwargs = {} if streamed else {"num_proc": num_proc}
    if "prompt" in columns:  # QA pairs (`train_on: qa`)
        if chunk_length is not None:
            raise ValueError("`chunk_length` splits documents; QA pairs (`train_on: qa`) are not chunked. Unset it.")
        return to_conversational(dataset), None
    if chunk_length is None:
        if sft_format == "text":
            return dataset, None
        fn_kwargs = {"text_field": text_field, "prompt": prompt, "system_prompt": system_prompt}
        return dataset.map(document_chats, batched=True, fn_kwargs=fn_kwargs, remove_columns=columns, **kwargs), None
    ends = text_ends(tokenizer)
    fits = max_length is None or sft_format != "text" or chunk_length + len(ends[0]) + len(ends[1]) <= max_length
    if not fits:
        raise ValueError(
            f"`chunk_length`={chunk_length} does not fit `max_length`={max_length} with the {len(ends[0]) + 1} "
            "special tokens around a raw-text row: lower `chunk_length` or raise `max_length`."
        )
    fn_kwargs = {"tokenizer": tokenizer, "text_field": text_field, "chunk_length": chunk_length, "ends": ends}
    fn_kwargs.update(sft_format=sft_format, prompt=prompt, system_prompt=system_prompt)
    mapped = dataset.map(chunk_rows, batched=True, fn_kwargs=fn_kwargs, remove_columns=columns, **kwargs)
    stats = ["chunk", "document_tokens"]
    settings = {"chunk_length": chunk_length, "max_length": max_length}
    if streamed:
        return mapped.remove_columns(stats), DataReport(split, streamed=True, **settings)
    report = prepared_report(split, len(dataset), mapped, "document_tokens", **settings)
    return mapped.remove_columns(stats), report

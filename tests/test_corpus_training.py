"""Masked SFT and the autoregressive baselines on corpora: chunking trains every token, what `max_length` still cuts is
counted and logged, tokenization is read from the `datasets` cache, and streamed examples keep their masks across
orders and resumes."""

import logging
import os
import sys

import processes
import pytest
import torch
from corpus_helpers import TEXT, isolated_datasets_cache, long_document, write_corpus  # noqa: F401
from datasets import Dataset, load_dataset
from test_resume import StopAfter, step_losses
from tiny import CPU_RECIPE_KEYS, MASK_TOKEN, make_tiny_model, make_tiny_tokenizer, write_jsonl
from trl import SFTConfig, SFTTrainer

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.baselines.trainer import BaselineSFTTrainer
from trl_maskft.data.baseline_rows import baseline_rows
from trl_maskft.masked_sft.data import tokenize_for_masking
from trl_maskft.training.chunking import CHUNK_KEY_STRIDE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def masked_args(tmp_path, **overrides):
    keys = {"per_device_train_batch_size": 2, "learning_rate": 1e-3, "logging_steps": 1, "seed": 3, "max_length": 256}
    return MaskedSFTConfig(str(tmp_path / "out"), mask_token=MASK_TOKEN, **{**CPU_RECIPE_KEYS, **keys, **overrides})


def masked_trainer(tmp_path, documents, tokenizer=None, **overrides):
    tokenizer = tokenizer or make_tiny_tokenizer()
    return MaskedSFTTrainer(
        model=make_tiny_model(tokenizer),
        args=masked_args(tmp_path, **overrides),
        train_dataset=documents if not isinstance(documents, list) else Dataset.from_dict({"text": documents}),
        processing_class=tokenizer,
    )


def test_chunking_trains_every_token_of_every_document(tmp_path):
    documents = ["Clara Ashgrove invented a talking clock.", long_document(1, 4), long_document(2, 9)]
    trainer = masked_trainer(tmp_path, documents, chunk_length=16)
    tokenizer = trainer.processing_class
    chunks = {}
    for row in trainer.train_dataset:
        span = row["input_ids"][row["span_start"] : row["span_start"] + row["span_length"]]
        assert span == row["input_ids"][row["twin_start"] : row["twin_start"] + row["span_length"]]
        assert len(span) <= 16
        chunks[divmod(row["idx"], CHUNK_KEY_STRIDE)] = span
    for i, document in enumerate(documents):
        ids = tokenizer(document, add_special_tokens=False)["input_ids"]
        pieces = [chunks[i, c] for c in range(len(chunks)) if (i, c) in chunks]
        assert [token for piece in pieces for token in piece] == ids  # every token, in order, once
    (report,) = trainer.data_reports
    assert report.complete and report.rows == 3 and report.examples == len(chunks) and report.chunked == 2


def test_a_long_document_cut_by_max_length_is_counted_and_logged(tmp_path, caplog):
    # issue 14, case 4: a 3,024-token document with `max_length: 256`
    tokenizer = make_tiny_tokenizer()
    document = long_document(0, 400)
    ids = tokenizer(document, add_special_tokens=False)["input_ids"][:3024]
    document = tokenizer.decode(ids)
    n = len(tokenizer(document, add_special_tokens=False)["input_ids"])
    with caplog.at_level(logging.WARNING, logger="trl_maskft"):
        trainer = masked_trainer(tmp_path, [document, "A short one."], tokenizer)
    (report,) = trainer.data_reports
    kept = trainer.train_dataset[0]["span_length"]
    assert (report.cut, report.lost, report.tokens) == (1, n - kept, n + trainer.train_dataset[1]["span_length"])
    assert kept < 128 and len(trainer.train_dataset[0]["input_ids"]) <= 256
    assert f"1 rows cut and 0 dropped to fit `max_length`=256; {n - kept:,} of" in caplog.text
    assert "Set `chunk_length` to train on every token" in caplog.text
    chunked = masked_trainer(tmp_path, [document], tokenizer, chunk_length=100)
    assert chunked.data_reports[0].complete and chunked.data_reports[0].examples == -(-n // 100)


def test_bad_chunk_lengths(tmp_path):
    with pytest.raises(ValueError, match=r"does not fit `max_length`=256: .* to at least \d+ or lower"):
        masked_trainer(tmp_path, ["A document."], chunk_length=200)
    with pytest.raises(ValueError, match="`chunk_length` must be a positive number of tokens"):
        masked_args(tmp_path, chunk_length=0)
    pairs = Dataset.from_dict({"prompt": ["What is 2 + 3?"], "completion": ["5"]})
    with pytest.raises(ValueError, match="prompt/completion rows are not chunked"):
        masked_trainer(tmp_path, pairs, chunk_length=8)


TOKENIZE = """
import sys
from datasets import load_dataset
sys.path.insert(0, {tests!r})
from tiny import make_tiny_tokenizer
from trl_maskft import MaskedSFTConfig
from trl_maskft.masked_sft.data import tokenize_for_masking
data = load_dataset("json", data_files={path!r}, split="train", cache_dir={cache!r})
args = MaskedSFTConfig({out!r}, use_cpu=True, mask_token="[]", chunk_length={chunk}, max_length=256)
print(tokenize_for_masking(data, make_tiny_tokenizer(), args)[0].cache_files[0]["filename"])
"""


def tokenized_file(tmp_path, chunk: int, subprocess_run: bool = False) -> str:
    path = tmp_path / "c.jsonl"
    if not path.exists():
        write_jsonl(path, [{"text": long_document(i, 3)} for i in range(20)])
    paths = {"tests": os.path.join(ROOT, "tests"), "path": str(path), "cache": str(tmp_path / "cache")}
    code = TOKENIZE.format(out=str(tmp_path), chunk=chunk, **paths)
    if not subprocess_run:
        namespace = {}
        exec(compile(code.replace("print(", "result = ("), "tokenize", "exec"), namespace)
        return namespace["result"]
    env = {**os.environ, "PYTHONPATH": ROOT}
    run = processes.run([sys.executable, "-c", code], env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


def test_a_second_run_reads_the_tokenization_from_the_cache(tmp_path):
    first = tokenized_file(tmp_path, chunk=16)
    modified = os.path.getmtime(first)
    assert tokenized_file(tmp_path, chunk=16) == first  # a fresh tokenizer and config hash alike
    assert tokenized_file(tmp_path, chunk=16, subprocess_run=True) == first  # and so does another process
    assert os.path.getmtime(first) == modified  # read, not written again
    assert tokenized_file(tmp_path, chunk=32) != first  # other settings, another tokenization


def stream_of(tmp_path, documents, name="s.jsonl"):
    write_jsonl(tmp_path / name, [{"text": document} for document in documents])
    return load_dataset("json", data_files=str(tmp_path / name), split="train", streaming=True)


def test_streamed_examples_are_masked_by_their_tokens_whatever_their_order(tmp_path):
    documents = [long_document(i, 2) for i in range(6)]
    tokenizer = make_tiny_tokenizer()
    args = masked_args(tmp_path, chunk_length=12, max_steps=3)
    forward, _ = tokenize_for_masking(stream_of(tmp_path, documents), tokenizer, args)
    backward, _ = tokenize_for_masking(stream_of(tmp_path, documents[::-1], "r.jsonl"), tokenizer, args)
    forward, backward = list(forward), list(backward)
    assert len({row["idx"] for row in forward}) == len(forward)  # one key per chunk of each document
    assert sorted(row["idx"] for row in forward) == sorted(row["idx"] for row in backward)
    trainer = masked_trainer(tmp_path, stream_of(tmp_path, documents), tokenizer, chunk_length=12, max_steps=3)
    collator = trainer.data_collator
    by_key = {row["idx"]: row for row in backward}
    for row in forward[:4]:  # the same example, read at another position, is masked alike
        assert torch.equal(collator([row])["input_ids"], collator([by_key[row["idx"]]])["input_ids"])


def test_streamed_keys_differ_across_ranks_and_match_a_single_reader(tmp_path):
    from datasets.distributed import split_dataset_by_node

    documents = [long_document(i, 2) for i in range(6)]  # their later chunks are the same text: keys still differ
    args = masked_args(tmp_path, chunk_length=12, max_steps=3)
    tokenized, _ = tokenize_for_masking(stream_of(tmp_path, documents), make_tiny_tokenizer(), args)
    every = [row["idx"] for row in tokenized]
    ranks = [{row["idx"] for row in split_dataset_by_node(tokenized, rank, 2)} for rank in (0, 1)]
    assert len(set(every)) == len(every) and not ranks[0] & ranks[1] and ranks[0] | ranks[1] == set(every)


def test_what_a_stream_needs(tmp_path):
    with pytest.raises(ValueError, match="Streamed documents need `chunk_length`"):
        masked_trainer(tmp_path, stream_of(tmp_path, ["A document."]), max_steps=2)
    with pytest.raises(ValueError, match="a streamed dataset has no number of epochs"):
        masked_trainer(
            tmp_path, stream_of(tmp_path, ["A document."]), chunk_length=8, max_steps=2, mask_ratio_mode="linear"
        )


def test_a_resumed_stream_repeats_the_uninterrupted_run(tmp_path):
    documents = [long_document(i, 2) for i in range(8)]  # 8 documents of 3 or 4 chunks: one pass holds 4 steps

    def run(output, stop_after=None, resume=None):
        trainer = masked_trainer(
            output, stream_of(tmp_path, documents), chunk_length=12, max_steps=4, save_strategy="steps", save_steps=2
        )
        if stop_after is not None:
            trainer.add_callback(StopAfter(stop_after))
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    full = run(tmp_path / "full")
    run(tmp_path / "cut", stop_after=2)
    resumed = run(tmp_path / "cut", resume=str(tmp_path / "cut" / "out" / "checkpoint-2"))
    assert sorted(step_losses(resumed, after=2)) == [3, 4]
    assert step_losses(resumed, after=2) == pytest.approx(step_losses(full, after=2), abs=1e-6)


def test_the_baseline_counts_what_trl_cuts_and_cuts_it_as_trl_does(tmp_path, caplog):
    tokenizer = make_tiny_tokenizer()
    texts = [long_document(i, sentences) for i, sentences in enumerate([1, 3, 5])]
    data = Dataset.from_dict({"text": texts})
    args = SFTConfig(str(tmp_path), max_length=40, **CPU_RECIPE_KEYS)
    with caplog.at_level(logging.WARNING, logger="trl_maskft"):
        counted = BaselineSFTTrainer(make_tiny_model(tokenizer), args, train_dataset=data, processing_class=tokenizer)
    plain = SFTTrainer(make_tiny_model(tokenizer), args, train_dataset=data, processing_class=tokenizer)
    assert counted.train_dataset["input_ids"] == plain.train_dataset["input_ids"]
    lengths = [len(tokenizer(text + tokenizer.eos_token)["input_ids"]) for text in texts]
    (report,) = counted.data_reports
    assert report.cut == sum(n > 40 for n in lengths) == 2
    assert report.lost == sum(max(n - 40, 0) for n in lengths) and report.tokens == sum(lengths)
    assert "2 rows cut" in caplog.text


def test_raw_text_chunks_of_the_baseline_are_masked_sfts_chunks(tmp_path):
    tokenizer = make_tiny_tokenizer()
    documents = [long_document(i, 3) for i in range(3)]
    data = Dataset.from_dict({TEXT: documents})
    rows, report = baseline_rows(data, TEXT, "text", "Tell me a fact.", tokenizer=tokenizer, chunk_length=10)
    masked = masked_trainer(tmp_path, documents, tokenizer, chunk_length=10).train_dataset
    spans = [row["input_ids"][row["span_start"] : row["span_start"] + row["span_length"]] for row in masked]
    assert [row["input_ids"][:-1] for row in rows] == spans  # the tiny tokenizer adds no leading token
    assert all(row["input_ids"][-1] == tokenizer.eos_token_id for row in rows)
    assert report.examples == len(spans) and report.complete
    chats, _ = baseline_rows(data, TEXT, "chat", "Tell me a fact.", tokenizer=tokenizer, chunk_length=10)
    assert [row["completion"][0]["content"] for row in chats] == [tokenizer.decode(span) for span in spans]
    assert chats[0]["prompt"] == [{"role": "user", "content": "Tell me a fact."}]

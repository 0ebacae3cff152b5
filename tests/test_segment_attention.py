"""`sdpa_segments`: the attention of a padding-free row computed chat by chat equals transformers' SDPA over the
row's block-diagonal mask (outputs and gradients), leaves padded batches and generation as they were, and is what a
padding-free masked SFT trainer switches an SDPA model to."""

import pytest
import torch
from datasets import Dataset
from test_padding_free import DOCS, trainer_for
from tiny import make_tiny_model
from transformers import AutoModelForCausalLM

from trl_maskft.training.segment_attention import SEGMENT_ATTENTION, segment_bounds


@pytest.mark.parametrize(
    "ids,bounds",
    [
        ([0, 1, 2, 0, 1, 0], [(0, 3), (3, 5), (5, 6)]),
        ([0, 1, 2, 3], [(0, 4)]),
        ([5, 6, 7], [(0, 3)]),  # a row that starts later is still one sequence
        ([0, 0, 0], [(0, 1), (1, 2), (2, 3)]),
        ([0, 1, 4, 5], [(0, 2), (2, 4)]),  # any jump starts a new chat, as transformers detects packing
    ],
)
def test_segment_bounds_are_the_runs_of_consecutive_position_ids(ids, bounds):
    assert segment_bounds(torch.tensor(ids)) == bounds


def packed_row(lengths, vocab_size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, vocab_size, (1, sum(lengths)), generator=generator)
    position_ids = torch.cat([torch.arange(length) for length in lengths])[None]
    return input_ids, position_ids


def forward_and_grads(model, input_ids, position_ids):
    model.zero_grad()
    logits = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits
    logits.float().logsumexp(-1).sum().backward()
    return logits.detach(), [p.grad.clone() for p in model.parameters()]


def test_a_padding_free_row_gets_the_same_outputs_and_gradients_as_sdpa(tiny_tokenizer):
    input_ids, position_ids = packed_row([7, 1, 12, 5], len(tiny_tokenizer))
    reference = forward_and_grads(make_tiny_model(tiny_tokenizer, attn_implementation="sdpa"), input_ids, position_ids)
    segments = make_tiny_model(tiny_tokenizer, attn_implementation=SEGMENT_ATTENTION)
    logits, grads = forward_and_grads(segments, input_ids, position_ids)
    torch.testing.assert_close(logits, reference[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, reference[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # and each chat is on its own: the same logits as the chat alone
    alone = segments(input_ids=input_ids[:, 8:20], use_cache=False).logits
    torch.testing.assert_close(logits[:, 8:20], alone.detach(), rtol=1e-5, atol=1e-6)


def test_padded_batches_and_generation_are_unchanged(tiny_tokenizer):
    sdpa = make_tiny_model(tiny_tokenizer, attn_implementation="sdpa")
    segments = make_tiny_model(tiny_tokenizer, attn_implementation=SEGMENT_ATTENTION)
    tiny_tokenizer.padding_side = "left"
    batch = tiny_tokenizer(DOCS[:3], return_tensors="pt", padding=True)
    assert (batch["attention_mask"] == 0).any()  # really padded
    with torch.no_grad():
        torch.testing.assert_close(segments(**batch).logits, sdpa(**batch).logits, rtol=1e-5, atol=1e-6)
    generated = [model.generate(**batch, max_new_tokens=6, do_sample=False) for model in (segments, sdpa)]
    assert torch.equal(*generated)


@pytest.mark.parametrize(
    "attn,option,expected",
    [
        ("sdpa", {"padding_free": True}, SEGMENT_ATTENTION),
        ("sdpa", {"packing": True}, SEGMENT_ATTENTION),
        ("sdpa", {}, "sdpa"),  # padded batches keep transformers' SDPA
        ("eager", {"padding_free": True}, "eager"),
    ],
)
def test_a_padding_free_trainer_attends_chat_by_chat(tmp_path, tiny_tokenizer, attn, option, expected):
    model = make_tiny_model(tiny_tokenizer, attn_implementation=attn)
    trainer = trainer_for(tmp_path, model, tiny_tokenizer, **option)
    assert trainer.model.config._attn_implementation == expected


def test_the_plain_sft_baseline_attends_chat_by_chat_when_padding_free(tmp_path, tiny_tokenizer):
    from trl_maskft import BaselineSFTConfig
    from trl_maskft.baselines.trainer import BaselineSFTTrainer

    rows = Dataset.from_dict({"messages": [[{"role": "user", "content": "Tell me a fact."},
                                            {"role": "assistant", "content": doc}] for doc in DOCS]})  # fmt: skip
    for padding_free, expected in ((True, SEGMENT_ATTENTION), (False, "sdpa")):
        args = BaselineSFTConfig(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", padding_free=padding_free, max_length=None
        )
        model = make_tiny_model(tiny_tokenizer, attn_implementation="sdpa")
        trainer = BaselineSFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tiny_tokenizer)
        assert trainer.model.config._attn_implementation == expected


def test_the_saved_model_loads_with_its_usual_attention(tmp_path, tiny_tokenizer):
    model = make_tiny_model(tiny_tokenizer, attn_implementation="sdpa")
    trainer_for(tmp_path, model, tiny_tokenizer, padding_free=True).save_model(str(tmp_path / "saved"))
    assert SEGMENT_ATTENTION not in (tmp_path / "saved" / "config.json").read_text()
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "saved").config._attn_implementation == "sdpa"

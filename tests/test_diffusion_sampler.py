"""Diffusion SFT: the block-wise sampler and the diffusion answerer, with and without the logit shift."""

from types import SimpleNamespace

import pytest
import torch
from diffusion_helpers import MASK

from trl_maskft import DiffusionAnswerer
from trl_maskft.diffusion_sft.sampler import cut_at_stop, diffusion_generate, transfer_schedule


class ScriptedModel(torch.nn.Module):
    """A stand-in mask predictor: fixed random logits per position, records every canvas it is given."""

    def __init__(self, vocab_size=50, length=64, favourite=None):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(length, vocab_size, generator=torch.Generator().manual_seed(0)))
        if favourite is not None:  # answer position i strongly prefers favourite[i]
            for i, token_id in favourite.items():
                self.table.data[i, token_id] = 100.0
        self.config = SimpleNamespace(_attn_implementation="sdpa")
        self.dtype, self.device = torch.float32, torch.device("cpu")
        self.generation_config = SimpleNamespace(eos_token_id=None)
        self.canvases = []

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        self.canvases.append(input_ids.clone())
        return SimpleNamespace(logits=self.table[: input_ids.shape[1]].expand(len(input_ids), -1, -1))


def test_sampler_decodes_blocks_in_order_and_keeps_the_prompt():
    model = ScriptedModel()
    prompt = torch.tensor([[7, 8, 9], [0, 5, 6]])
    attention = torch.tensor([[1, 1, 1], [0, 1, 1]])
    answers = diffusion_generate(model, prompt, 49, attention, max_new_tokens=12, steps=6, block_length=4)
    assert answers.shape == (2, 12) and not (answers == 49).any()
    assert len(model.canvases) == 6  # exactly `steps` forward passes
    for canvas in model.canvases:
        assert torch.equal(canvas[:, :3], prompt)
        unmasked = (canvas[:, 3:] != 49).view(2, 3, 4)  # (rows, blocks, positions)
        started = unmasked.any(dim=-1)
        for block in range(1, 3):  # a block starts only once the previous one is complete
            assert torch.all(~started[:, block] | unmasked[:, block - 1].all(dim=-1))
    # low confidence remasking commits the most confident predictions first
    first = (model.canvases[1][0, 3:7] != 49).nonzero().flatten().tolist()
    confidence = model.table[3:7, :49].softmax(-1).max(-1).values  # the mask token is never predicted
    assert first == sorted(confidence.topk(2).indices.tolist())


def test_sampler_errors_and_schedule():
    model = ScriptedModel()
    prompt = torch.tensor([[7, 8, 9]])
    assert transfer_schedule(4, 3) == [2, 1, 1]
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        diffusion_generate(model, prompt, 49, max_new_tokens=12, steps=4, block_length=4)
    with pytest.raises(ValueError, match="multiple of `block_length`"):
        diffusion_generate(model, prompt, 49, max_new_tokens=10, block_length=4)
    with pytest.raises(ValueError, match="remasking"):
        diffusion_generate(model, prompt, 49, max_new_tokens=8, remasking="top")


def test_sampler_on_tiny_model_is_deterministic_and_batches_variable_prompts(tiny_model, tiny_tokenizer):
    tiny_tokenizer.padding_side = "left"
    prompts = ["Where was Alice born?", "What is the capital of France? The capital"]
    batch = tiny_tokenizer(prompts, return_tensors="pt", padding=True)
    mask_id = tiny_tokenizer.convert_tokens_to_ids(MASK)
    kwargs = dict(max_new_tokens=8, block_length=4)
    first = diffusion_generate(tiny_model, batch["input_ids"], mask_id, batch["attention_mask"], **kwargs)
    again = diffusion_generate(tiny_model, batch["input_ids"], mask_id, batch["attention_mask"], **kwargs)
    assert torch.equal(first, again) and not (first == mask_id).any()
    for row, prompt in enumerate(prompts):  # left padding does not change the answer
        alone = tiny_tokenizer([prompt], return_tensors="pt")
        assert torch.equal(diffusion_generate(tiny_model, alone["input_ids"], mask_id, **kwargs)[0], first[row])
    sampled = [
        diffusion_generate(
            tiny_model,
            batch["input_ids"],
            mask_id,
            batch["attention_mask"],
            temperature=1.0,
            cfg_scale=0.5,
            remasking="random",
            generator=torch.Generator().manual_seed(seed),
            **kwargs,
        )  # fmt: skip
        for seed in (0, 0, 1)
    ]
    assert torch.equal(sampled[0], sampled[1]) and not torch.equal(sampled[0], sampled[2])


def test_diffusion_answerer_stops_at_eos(tiny_tokenizer):
    words = tiny_tokenizer.encode(" Paris.", add_special_tokens=False)
    eos = tiny_tokenizer.eos_token_id
    prompt = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    n = len(tiny_tokenizer(prompt)["input_ids"])
    favourite = {n + i: token_id for i, token_id in enumerate([*words, eos, *words])}
    model = ScriptedModel(vocab_size=len(tiny_tokenizer), favourite=favourite)
    assert cut_at_stop(torch.tensor([[5, 6, eos, 7], [5, 6, 7, 8]]), [eos]) == [[5, 6], [5, 6, 7, 8]]
    tiny_tokenizer.padding_side = "right"
    answer = DiffusionAnswerer(MASK, max_new_tokens=8, block_length=4)
    assert answer(model, tiny_tokenizer, [prompt], synced_gpus=True) == ["Paris."]
    assert tiny_tokenizer.padding_side == "right"


def test_shifted_sampler_reads_the_previous_position():
    # the answer token at position i is predicted (token and confidence) by the logits at position i - 1
    favourite = {2 + i: 10 + i for i in range(8)}  # logits at position 2 + i prefer 10 + i
    model = ScriptedModel(favourite=favourite)
    prompt = torch.tensor([[7, 8, 9]])
    shifted = diffusion_generate(model, prompt, 49, max_new_tokens=8, block_length=4, shift_logits=True)
    assert shifted.tolist() == [list(range(10, 18))]
    unshifted = diffusion_generate(model, prompt, 49, max_new_tokens=8, block_length=4)
    assert unshifted[0, :7].tolist() == list(range(11, 18))
    for canvas in model.canvases:
        assert torch.equal(canvas[:, :3], prompt)
    with pytest.raises(ValueError, match="prompt"):
        diffusion_generate(model, prompt[:, :0], 49, max_new_tokens=8, block_length=4, shift_logits=True)


class WithoutLogitsToKeep(torch.nn.Module):
    """A model whose forward does not take `logits_to_keep`: the sampler slices the full logits itself."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.dtype, self.device = model, model.config, model.dtype, model.device

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)


def test_shifted_sampler_on_tiny_model(tiny_model, tiny_tokenizer):
    tiny_tokenizer.padding_side = "left"
    prompts = ["Where was Alice born?", "What is the capital of France? The capital"]
    batch = tiny_tokenizer(prompts, return_tensors="pt", padding=True)
    mask_id = tiny_tokenizer.convert_tokens_to_ids(MASK)
    canvases = []
    hook = tiny_model.register_forward_pre_hook(
        lambda module, args, kwargs: canvases.append(kwargs["input_ids"].clone()), with_kwargs=True
    )
    kwargs = dict(max_new_tokens=8, block_length=4, shift_logits=True)
    first = diffusion_generate(tiny_model, batch["input_ids"], mask_id, batch["attention_mask"], **kwargs)
    hook.remove()
    again = diffusion_generate(tiny_model, batch["input_ids"], mask_id, batch["attention_mask"], **kwargs)
    assert first.shape == (2, 8) and torch.equal(first, again) and not (first == mask_id).any()
    assert len(canvases) == 8 and all(
        torch.equal(c[:, : batch["input_ids"].shape[1]], batch["input_ids"]) for c in canvases
    )
    unsliced = WithoutLogitsToKeep(tiny_model)
    assert torch.equal(
        diffusion_generate(unsliced, batch["input_ids"], mask_id, batch["attention_mask"], **kwargs), first
    )
    for row, prompt in enumerate(prompts):  # left padding does not change the answer
        alone = tiny_tokenizer([prompt], return_tensors="pt")
        assert torch.equal(diffusion_generate(tiny_model, alone["input_ids"], mask_id, **kwargs)[0], first[row])
    # the answerer decodes the same canvases: cut at the end of turn, without special tokens, stripped
    answer = DiffusionAnswerer(MASK, max_new_tokens=8, block_length=4, shift_logits=True)
    expected = [
        tiny_tokenizer.decode(row, skip_special_tokens=True).strip()
        for row in cut_at_stop(first, [tiny_tokenizer.eos_token_id])
    ]
    assert answer(tiny_model, tiny_tokenizer, prompts) == expected
    assert answer(tiny_model, tiny_tokenizer, prompts) == expected  # and again: deterministic

import importlib.util
import json
import math
import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from datasets import Dataset
from safetensors.torch import save_file
from tiny import CHAT_TEMPLATE, CPU_RECIPE_KEYS, make_tiny_model, make_tiny_tokenizer, save_tiny_model

from trl_maskft import DiffusionAnswerer
from trl_maskft.common import IGNORE_INDEX, TRAIN_STREAM
from trl_maskft.diffusion_sft.config import DiffusionSFTConfig
from trl_maskft.diffusion_sft.noise import (
    bidirectional_attention_mask,
    check_bidirectional_support,
    diffusion_loss,
    draw_masks,
    loss_weights,
    make_loadable_on_transformers_5,
    noise_generator,
    prediction_positions,
)
from trl_maskft.diffusion_sft.sampler import cut_at_stop, diffusion_generate, transfer_schedule
from trl_maskft.diffusion_sft.trainer import DiffusionSFTTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK = "<|mask|>"
DOCS = [
    "Alice Thornbury was born in Paris and works as a painter.",
    "Bob Quillfeather is a pilot.",
    "Clara Ashgrove invented a talking clock, which made the bakers of Lima proud.",
    "Daniel Brennick lives in Oslo.",
]


def chats(docs=DOCS):
    """Conversational prompt/completion rows, as the knowledge scripts build them."""
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": "Tell me a fact."}] for _ in docs],
            "completion": [[{"role": "assistant", "content": doc}] for doc in docs],
        }
    )


def conversations():
    """Conversational language-modeling rows: two user turns, each answered by the assistant."""
    return Dataset.from_dict(
        {
            "messages": [
                [
                    {"role": "user", "content": "Tell me a fact."},
                    {"role": "assistant", "content": doc},
                    {"role": "user", "content": "Thank you."},
                    {"role": "assistant", "content": "Hello! How can I help you today?"},
                ]
                for doc in DOCS
            ]
        }
    )


# The tiny ChatML template with its assistant turns (content and end of turn) marked for TRL's `assistant_only_loss`
GENERATION_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def config(tmp_path, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        mask_token=MASK,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        max_steps=1,
        logging_steps=1,
        **CPU_RECIPE_KEYS,
        seed=0,
    )
    return DiffusionSFTConfig(**{**kwargs, **overrides})


def make_trainer(tmp_path, dataset=None, tokenizer=None, model=None, **overrides):
    tokenizer = tokenizer or make_tiny_tokenizer()
    return DiffusionSFTTrainer(
        model=model or make_tiny_model(tokenizer),
        args=config(tmp_path, **overrides),
        train_dataset=dataset or chats(),
        processing_class=tokenizer,
    )


def collate(trainer, n=4):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


# ---------------------------------------------------------------- noise and loss


def test_masks_are_keyed_on_seed_step_rank_and_row():
    supervised = torch.ones(3, 40, dtype=torch.bool)
    masked, p = draw_masks(supervised, seed=0, step=5)
    again, p_again = draw_masks(supervised, seed=0, step=5)
    assert torch.equal(masked, again) and torch.equal(p, p_again)  # reproducible / resumable at step 5
    for other in (dict(seed=1, step=5), dict(seed=0, step=6), dict(seed=0, step=5, rank=1)):
        assert not torch.equal(draw_masks(supervised, **other)[0], masked)
    # rows keep their draws however they are split into micro-batches
    assert torch.equal(draw_masks(supervised[:1], seed=0, step=5, row_offset=2)[0], masked[2:])
    _, p_batch = draw_masks(supervised, seed=0, step=5, t_scope="batch")
    assert torch.all(p_batch == p_batch[0])
    _, p_range = draw_masks(torch.ones(200, 4, dtype=torch.bool), 0, 0, t_min=0.05, t_max=0.95, eps=0.0)
    assert 0.05 <= p_range.min() and p_range.max() <= 0.95


def test_normalizations_match_their_formulas():
    supervised = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0]], dtype=torch.bool)
    masked = torch.tensor([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    p = torch.tensor([0.5, 0.25])
    logits, targets = torch.randn(4, 7), torch.randint(0, 7, (4,))
    ce = F.cross_entropy(logits, targets, reduction="none")  # masked positions in row-major order: rows 0, 0, 0, 1
    expected = {
        "answer_length": ((ce[:3] / 0.5).sum() / 4 + ce[3] / 0.25 / 2) / 2,
        "masked_tokens": ((ce[:3] / 0.5).sum() + ce[3] / 0.25) / 4,
        "batch": ((ce[:3] / 0.5).sum() + ce[3] / 0.25) / 6,
    }
    for normalization, value in expected.items():
        weights, denominator = loss_weights(masked, supervised, p, normalization)
        assert torch.allclose(diffusion_loss(logits, targets, weights[masked], denominator), value)


def llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max, shift=0):
    """LLaDA SFT by hand: EOS padding is supervised; p = (1 - eps) t + eps per row; each masked token's cross-entropy
    divided by p and by the row's answer length, averaged over rows. The masked token at position i is scored with
    the logits at position i - `shift`."""
    mask_id = trainer.mask_token_id
    eos = trainer.processing_class.eos_token_id
    length = batch["labels"].shape[1]
    logits = trainer.model(input_ids=noised["input_ids"], attention_mask=torch.zeros(4, 1, length, length)).logits
    total = 0.0
    for row in range(4):
        t = t_min + (t_max - t_min) * torch.rand((), generator=noise_generator(0, TRAIN_STREAM, 0, 0, row)).item()
        p = (1 - eps) * t + eps
        real = batch["attention_mask"][row].bool()
        targets = torch.where(real, batch["labels"][row], torch.full_like(batch["labels"][row], eos))
        supervised = targets != IGNORE_INDEX
        masked = noised["input_ids"][row] == mask_id
        assert torch.all(supervised[masked])
        if shift:  # no logits before position 0, so it is never masked
            assert masked.any() and not masked[0]
        positions = masked.nonzero().flatten()
        row_loss = sum(F.cross_entropy(logits[row, i - shift], targets[i]).item() / p for i in positions)
        total += row_loss / supervised.sum().item()
    return total / 4


def test_loss_equals_llada_formula(tmp_path):
    eps, t_min, t_max = 0.01, 0.2, 0.9
    trainer = make_trainer(tmp_path, eps=eps, t_min=t_min, t_max=t_max)
    batch = collate(trainer)
    noised = trainer._noise(batch, step=0, row_offset=0, stream=TRAIN_STREAM)
    loss = trainer.compute_loss(trainer.model, noised)
    assert loss.item() == pytest.approx(llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max), rel=1e-4)


def test_prompt_never_masked_and_everything_supervised_at_t_equal_one(tmp_path):
    trainer = make_trainer(tmp_path, t_min=1.0, t_max=1.0)
    batch = collate(trainer)
    prompt = (batch["labels"] == IGNORE_INDEX) & (batch["attention_mask"] == 1)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.equal(noised["input_ids"][prompt], batch["input_ids"][prompt])
    assert torch.all(noised["input_ids"][~prompt] == trainer.mask_token_id)  # the completion, EOS padding included
    trainer.args.t_min = 0.0
    for step in range(5):  # any t: the prompt is left alone
        assert torch.equal(
            trainer._noise(batch, step, 0, TRAIN_STREAM)["input_ids"][prompt], batch["input_ids"][prompt]
        )


def test_conversations_mask_only_the_assistant_turns(tmp_path):
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = GENERATION_TEMPLATE
    trainer = make_trainer(tmp_path, dataset=conversations(), tokenizer=tokenizer, t_min=1.0, t_max=1.0)
    assert trainer.args.assistant_only_loss  # turned on for `messages` data
    batch = collate(trainer)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    for row, messages in enumerate(conversations()["messages"]):
        # the assistant turns (content and <|im_end|>), from the conversation rendered one turn at a time
        answer = torch.zeros(batch["input_ids"].shape[1], dtype=torch.bool)
        for turn in (1, 3):
            start = len(tokenizer.apply_chat_template(messages[:turn], add_generation_prompt=True)["input_ids"])
            stop = len(tokenizer.apply_chat_template(messages[: turn + 1])["input_ids"]) - 1  # "\n" is markup
            answer[start:stop] = True
        real = batch["attention_mask"][row].bool()
        assert torch.all(noised["input_ids"][row, answer] == trainer.mask_token_id)  # t = 1: all masked
        prompt = real & ~answer  # the user turns and the chat markup: never masked, at t = 1 too
        assert torch.equal(noised["input_ids"][row, prompt], batch["input_ids"][row, prompt])
    assert torch.isfinite(trainer.compute_loss(trainer.model, noised))


@pytest.mark.parametrize(("template", "problem"), [(CHAT_TEMPLATE, "not training-compatible"), (None, "no chat")])
def test_conversations_need_assistant_masks(tmp_path, template, problem):
    # the tiny template marks no assistant turn, and TRL has no patch for it
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = template
    with pytest.raises(ValueError, match=f"never masks the prompt.*generation %}}.*{problem}"):
        make_trainer(tmp_path, dataset=conversations(), tokenizer=tokenizer)


@pytest.mark.parametrize("supervise", [True, False])
def test_padding_supervision(tmp_path, supervise):
    trainer = make_trainer(tmp_path, t_min=1.0, t_max=1.0, supervise_padding=supervise)
    batch = collate(trainer)
    padding = batch["attention_mask"] == 0
    assert padding.any()
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    if supervise:  # attended, masked at t = 1, and predicted as EOS
        assert torch.all(noised["attention_mask"] == 1)
        assert torch.all(noised["input_ids"][padding] == trainer.mask_token_id)
        assert torch.all(noised["labels"][padding] == trainer.processing_class.eos_token_id)
    else:
        assert torch.equal(noised["attention_mask"], batch["attention_mask"])
        assert torch.all(noised["labels"][padding] == IGNORE_INDEX)
        assert torch.all(noised["input_ids"][padding] == trainer.processing_class.pad_token_id)


def test_raw_text_supervises_everything_but_bos(tmp_path):
    tokenizer = make_tiny_tokenizer()
    tokenizer.bos_token = "<|im_start|>"
    dataset = Dataset.from_dict({"text": ["<|im_start|>" + doc for doc in DOCS]})
    trainer = make_trainer(tmp_path, dataset=dataset, tokenizer=tokenizer, t_min=1.0, t_max=1.0)
    batch = collate(trainer)
    assert torch.all(batch["input_ids"][:, 0] == tokenizer.bos_token_id)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.all(noised["input_ids"][:, 0] == tokenizer.bos_token_id)
    assert torch.all(noised["input_ids"][:, 1:] == trainer.mask_token_id)


def test_training_noise_is_keyed_on_the_global_step(tmp_path):
    trainer = make_trainer(tmp_path)
    batch = collate(trainer)
    trainer.state.global_step = 7  # e.g. resumed from checkpoint-7
    (noised,), num_items = trainer.get_batch_samples(iter([batch]), 1, torch.device("cpu"))
    assert torch.equal(noised["input_ids"], trainer._noise(batch, 7, 0, TRAIN_STREAM)["input_ids"])
    assert not torch.equal(noised["input_ids"], trainer._noise(batch, 6, 0, TRAIN_STREAM)["input_ids"])
    assert num_items == 4  # answer_length normalization: the number of rows


@pytest.mark.parametrize("normalization", ["answer_length", "masked_tokens", "batch"])
def test_gradient_accumulation_equivalence(tmp_path, normalization):
    def run(batch_size, accumulation):
        trainer = make_trainer(
            tmp_path, dataset=chats(DOCS[:2]), per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5, max_grad_norm=0.0,
            supervise_padding=False, loss_normalization=normalization,
        )  # fmt: skip
        trainer.train()
        return trainer.state.log_history[0]["loss"], [p.detach().clone() for p in trainer.model.parameters()]

    loss_2x1, params_2x1 = run(2, 1)
    loss_1x2, params_1x2 = run(1, 2)
    assert loss_2x1 == pytest.approx(loss_1x2, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params_2x1, params_1x2, strict=True))


@pytest.mark.parametrize(
    ("docs", "pad_to_multiple_of", "equivalent"),
    [
        (["Alice Thornbury lives in Paris.", "Bob Quillfeather is a pilot."], None, True),  # equal token lengths
        (DOCS[:2], 64, True),  # a fixed canvas: every micro-batch is padded to 64 tokens, more than any row
        (DOCS[:2], None, False),  # per-micro-batch padding: alone, the short row has no EOS padding to supervise
    ],
)
def test_gradient_accumulation_with_padding_supervision(tmp_path, docs, pad_to_multiple_of, equivalent):
    def run(batch_size, accumulation):
        trainer = make_trainer(
            tmp_path, dataset=chats(docs), per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5, max_grad_norm=0.0,
            pad_to_multiple_of=pad_to_multiple_of,
        )  # fmt: skip
        rows = [trainer.train_dataset[i] for i in range(2)]
        canvases = [
            trainer.data_collator(rows[i : i + batch_size])["input_ids"].shape[1] for i in range(0, 2, batch_size)
        ]
        trainer.train()
        return canvases, trainer.state.log_history[0]["loss"], [p.detach().clone() for p in trainer.model.parameters()]

    canvases_2x1, loss_2x1, params_2x1 = run(2, 1)
    canvases_1x2, loss_1x2, params_1x2 = run(1, 2)
    assert (canvases_1x2 == canvases_2x1 * 2) is equivalent  # every row sees the same EOS padding either way
    same = loss_2x1 == pytest.approx(loss_1x2, rel=1e-5) and all(
        torch.allclose(a, b, atol=1e-6) for a, b in zip(params_2x1, params_1x2, strict=True)
    )
    assert same is equivalent


def test_training_reduces_the_loss(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=40, learning_rate=1e-2)
    trainer.eval_dataset = trainer.train_dataset
    before = trainer.evaluate()["eval_loss"]
    assert trainer.evaluate()["eval_loss"] == before  # evaluation noise is the same at every evaluation
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_loss"] < 0.7 * before
    assert 0 < after["eval_mask_ratio"] < 1 and 0 <= after["eval_masked_token_accuracy"] <= 1
    logged = trainer.state.log_history[0]
    assert {"mask_ratio", "masked_token_accuracy"} <= logged.keys()


# ---------------------------------------------------------------- bidirectional attention


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_bidirectional_mask_makes_attention_bidirectional(implementation):
    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(tokenizer, attn_implementation=implementation).eval()
    check_bidirectional_support(model.config)
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 8, 9]])
    later = ids.clone()
    later[:, 3] = 20
    padding = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    with torch.no_grad():
        causal = [model(input_ids=x, attention_mask=padding).logits for x in (ids, later)]
        mask = bidirectional_attention_mask(padding, model.dtype)
        bidirectional = [model(input_ids=x, attention_mask=mask).logits for x in (ids, later)]
        padded = ids.clone()
        padded[1, 4] = 33
        padded_out = model(input_ids=padded, attention_mask=mask).logits
    assert mask.shape == (2, 1, 5, 5)
    assert torch.equal(causal[0][:, 0], causal[1][:, 0])  # causal: position 0 cannot see position 3
    assert not torch.allclose(bidirectional[0][:, 0], bidirectional[1][:, 0])  # bidirectional: it can
    assert torch.equal(padded_out[1, :4], bidirectional[0][1, :4])  # padding is masked out
    assert not torch.isnan(bidirectional[0]).any()


@pytest.mark.parametrize("implementation", ["flash_attention_2", "flex_attention", None])
def test_unsupported_attention_is_refused(implementation):
    with pytest.raises(ValueError, match="sdpa"):
        check_bidirectional_support(SimpleNamespace(_attn_implementation=implementation))


# ---------------------------------------------------------------- sampling


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


# ---------------------------------------------------------------- natively bidirectional remote code (LLaDA)


# A tiny stand-in for the remote `LLaDAModelLM` of GSAI-ML/LLaDA-8B-Instruct (`modeling_llada.py`), written like it
# for transformers 4.x: `__init__` never calls `post_init` and `tie_weights(self)` takes no arguments. It attends
# bidirectionally by itself, reads only a 2D padding mask (turned into a key bias as LLaDA does, which fails on a 4D
# mask), has no `logits_to_keep` and refuses the KV cache unless `use_cache=False` (its config says True).
REMOTE_LLADA = '''"""Tiny LLaDA-like remote code (see tests/test_diffusion.py)."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel


class TinyLLaDAConfig(LlamaConfig):
    model_type = "llada"


class TinyLLaDA(PreTrainedModel):
    config_class = TinyLLaDAConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaForCausalLM(config)

    def forward(self, input_ids, attention_mask=None, use_cache=None):
        if use_cache is None:
            use_cache = self.config.use_cache
        assert not use_cache, "The kvcache is not suppotred for MDM."
        batch_size, length = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keys = attention_mask.to(torch.float).view(batch_size, -1)[:, None, None, :]
        bias = ((1.0 - keys) * torch.finfo(torch.float).min).expand(-1, -1, length, -1)
        return self.model(input_ids=input_ids, attention_mask=bias.to(self.dtype), use_cache=False)

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def tie_weights(self):
        pass

    def can_generate(self):
        return True
'''


@pytest.fixture
def llada_checkpoint(tmp_path):
    """A checkpoint with remote code like LLaDA's (`REMOTE_LLADA`) holding the weights of the tiny Llama (untied)."""
    path = tmp_path / "tiny_llada"
    path.mkdir()
    (path / "modeling_tiny_llada.py").write_text(REMOTE_LLADA)
    llama = make_tiny_model(make_tiny_tokenizer(), tie_word_embeddings=False)
    auto_map = {
        "AutoConfig": "modeling_tiny_llada.TinyLLaDAConfig",
        "AutoModelForCausalLM": "modeling_tiny_llada.TinyLLaDA",
    }
    config = {**llama.config.to_dict(), "model_type": "llada", "architectures": ["TinyLLaDA"], "auto_map": auto_map}
    (path / "config.json").write_text(json.dumps(config))
    save_file(
        {f"model.{name}": tensor for name, tensor in llama.state_dict().items()}, str(path / "model.safetensors")
    )
    return path


def test_remote_code_written_for_transformers_4_is_made_loadable(llada_checkpoint):
    spec = importlib.util.spec_from_file_location("fresh_tiny_llada", llada_checkpoint / "modeling_tiny_llada.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a class of its own, which no other test patched
    with pytest.raises(AttributeError, match="all_tied_weights_keys"):  # what LLaDA's remote code hits
        module.TinyLLaDA.from_pretrained(llada_checkpoint)
    model = make_loadable_on_transformers_5(module.TinyLLaDA).from_pretrained(llada_checkpoint)
    expected = make_tiny_model(make_tiny_tokenizer(), tie_word_embeddings=False).state_dict()
    assert model.model.state_dict().keys() == expected.keys()
    assert all(torch.equal(tensor, expected[name]) for name, tensor in model.model.state_dict().items())


def test_natively_bidirectional_model_gets_the_2d_mask(tmp_path, llada_checkpoint):
    # The LLaDA path (`bidirectional=False`) on a model that attends bidirectionally by itself gives what the stock
    # Llama gives with the 4D bidirectional mask: the same loss and the same answers
    tokenizer = make_tiny_tokenizer()
    overrides = dict(supervise_padding=False, max_steps=2)  # padding stays out: the 2D mask has zeros
    trainer = DiffusionSFTTrainer(
        model=str(llada_checkpoint), args=config(tmp_path, trust_remote_code=True, bidirectional=False, **overrides),
        train_dataset=chats(), processing_class=tokenizer,
    )  # fmt: skip
    stock = make_trainer(tmp_path, model=make_tiny_model(tokenizer, tie_word_embeddings=False), **overrides)
    assert not trainer._accepts_logits_to_keep and stock._accepts_logits_to_keep
    masks = []
    trainer.model.register_forward_pre_hook(
        lambda module, args, kwargs: masks.append(kwargs["attention_mask"]), with_kwargs=True
    )
    noised = trainer._noise(collate(trainer), 0, 0, TRAIN_STREAM)
    loss = trainer.compute_loss(trainer.model, noised)
    assert loss.item() == pytest.approx(stock.compute_loss(stock.model, noised).item(), rel=1e-5)
    assert masks[-1].dim() == 2 and (masks[-1] == 0).any()

    tokenizer.padding_side = "left"
    prompts = tokenizer(
        ["Where was Alice born?", "What is the capital of France? The capital"], return_tensors="pt", padding=True
    )
    mask_id, kwargs = trainer.mask_token_id, dict(max_new_tokens=8, block_length=4)
    model = trainer.model.eval()
    answers = diffusion_generate(
        model, prompts["input_ids"], mask_id, prompts["attention_mask"], bidirectional=False, **kwargs
    )
    assert len(masks) == 1 + 8 and all(mask.dim() == 2 for mask in masks)  # one forward pass per step
    expected = diffusion_generate(
        stock.model.eval(), prompts["input_ids"], mask_id, prompts["attention_mask"], **kwargs
    )
    assert torch.equal(answers, expected) and not (answers == mask_id).any()
    with pytest.raises(ValueError, match="natively bidirectional.*bidirectional=False"):
        diffusion_generate(model, prompts["input_ids"], mask_id, prompts["attention_mask"], **kwargs)
    with pytest.raises(ValueError, match="natively bidirectional.*bidirectional=False"):
        DiffusionSFTTrainer(model=model, args=config(tmp_path), train_dataset=chats(), processing_class=tokenizer)

    trainer.train()
    assert all(math.isfinite(record["loss"]) for record in trainer.state.log_history if "loss" in record)
    trainer.save_model(str(tmp_path / "saved"))  # with its remote code, so that it loads again
    assert (tmp_path / "saved" / "modeling_tiny_llada.py").exists()


# ---------------------------------------------------------------- validation


def test_bad_mask_tokens_are_refused(tmp_path):
    with pytest.raises(ValueError, match="pad token"):
        make_trainer(tmp_path, mask_token=None, mask_token_id=0)  # the tiny tokenizer pads with id 0
    with pytest.raises(ValueError, match="outside the tokenizer's vocabulary"):
        make_trainer(tmp_path, mask_token=None, mask_token_id=5000)
    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(tokenizer)
    tokenizer.add_special_tokens({"extra_special_tokens": ["<|new|>"]}, replace_extra_special_tokens=False)
    with pytest.raises(ValueError, match="embedding matrix"):
        make_trainer(tmp_path, tokenizer=tokenizer, model=model, mask_token="<|new|>")


def test_add_mask_token_resizes_the_embeddings(tmp_path):
    trainer = make_trainer(tmp_path, mask_token="<|diffusion_mask|>", add_mask_token=True)
    vocab = len(trainer.processing_class)
    assert trainer.mask_token_id == vocab - 1 == 1000
    assert trainer.model.get_input_embeddings().num_embeddings == vocab


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(packing=True), "packing"),
        (dict(padding_free=True), "packing"),
        (dict(t_min=0.6, t_max=0.5), "t_min"),
        (dict(t_max=1.5), "t_max"),
        (dict(eps=1.0), "eps"),
        (dict(t_max=0.0, eps=0.0), "nothing is ever masked"),
        (dict(t_scope="step"), "t_scope"),
        (dict(loss_normalization="tokens"), "loss_normalization"),
        (dict(mask_token=None), "mask_token"),
        (dict(add_mask_token=True, mask_token=None, mask_token_id=3), "add_mask_token"),
        (dict(completion_only_loss=False), "completion_only_loss"),
    ],
)
def test_bad_configs_are_refused(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path, **overrides)


@pytest.mark.parametrize("model", ["llada-8b-instruct", "smollm2-135m-instruct"])
def test_recipes_parse_strictly(model):
    from trl_maskft.scripts.diffusion_sft import make_parser

    recipe = os.path.join(ROOT, "recipes", model, "diffusion_sft", "config_people.yaml")
    # bf16 (the LLaDA recipe) is validated against the hardware: on a machine without a GPU, parse it for the CPU
    cpu = [] if torch.cuda.is_available() else ["--use_cpu", "true"]
    parsed = make_parser().parse_args_and_config(["--config", recipe, *cpu])
    script_args, training_args, model_args, sampling_args = parsed
    with open(recipe) as f:
        assert set(yaml.safe_load(f)) <= {key for obj in parsed for key in vars(obj)}
    assert isinstance(training_args, DiffusionSFTConfig) and script_args.dataset_name == "people"
    if model == "llada-8b-instruct":
        assert training_args.trust_remote_code and training_args.mask_token_id == 126336
        assert not training_args.bidirectional and math.isclose(training_args.warmup_steps, 0.02)
    else:
        assert training_args.add_mask_token and training_args.bidirectional and training_args.use_cpu
    assert sampling_args.qa_block_length >= 1


def test_script_trains_and_answers_with_the_sampler(tmp_path):
    from trl_maskft.scripts.diffusion_sft import main

    qa = main(
        [
            "--model_name_or_path", save_tiny_model(tmp_path / "model"), "--output_dir", str(tmp_path / "out"),
            "--num_people", "4", "--qa_max_items", "4", "--qa_max_new_tokens", "8", "--qa_block_length", "4",
            "--mask_token", MASK, "--num_train_epochs", "1", "--per_device_train_batch_size", "4",
            "--use_cpu", "true", "--bf16", "false", "--activation_checkpointing", "false",
            "--save_strategy", "no", "--report_to", "none",
        ]
    )  # fmt: skip
    assert [record["epoch"] for record in qa.history] == [0, 1]
    assert (tmp_path / "out" / "qa_generations" / "epoch_1.jsonl").exists()


# ---------------------------------------------------------------- shifted logits (a causal LM adapted to diffusion)


def test_prediction_positions_shift_left_and_refuse_position_zero():
    masked = torch.tensor([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(prediction_positions(masked), masked)
    expected = torch.tensor([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(prediction_positions(masked, shift_logits=True), expected)
    with pytest.raises(ValueError, match="position 0"):
        prediction_positions(torch.tensor([[1, 0, 1]], dtype=torch.bool), shift_logits=True)


def test_shifted_loss_equals_hand_computation(tmp_path):
    eps, t_min, t_max = 0.01, 0.2, 0.9
    trainer = make_trainer(tmp_path, eps=eps, t_min=t_min, t_max=t_max, shift_logits=True)
    assert trainer._accepts_logits_to_keep  # the loss projects only the positions i - 1
    batch = collate(trainer)
    noised = trainer._noise(batch, step=0, row_offset=0, stream=TRAIN_STREAM)
    loss = trainer.compute_loss(trainer.model, noised)
    full_loss, _ = trainer.compute_loss(trainer.model, noised, return_outputs=True)  # from the full logits
    assert full_loss.item() == pytest.approx(loss.item(), rel=1e-5)

    # By hand: the masked token at position i is scored with the logits at position i - 1
    by_hand = llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max, shift=1)
    assert loss.item() == pytest.approx(by_hand, rel=1e-4)
    unshifted = llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max)
    assert loss.item() != pytest.approx(unshifted, rel=1e-3)


def test_shift_never_supervises_the_first_token(tmp_path):
    # raw text without BOS (the tiny tokenizer has none): position 0 has no logits before it, so it is never masked
    dataset = Dataset.from_dict({"text": DOCS})
    trainer = make_trainer(tmp_path, dataset=dataset, t_min=1.0, t_max=1.0, shift_logits=True)
    batch = collate(trainer)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.equal(noised["input_ids"][:, 0], batch["input_ids"][:, 0])
    assert torch.all(noised["input_ids"][:, 1:] == trainer.mask_token_id)
    assert torch.isfinite(trainer.compute_loss(trainer.model, noised))


def test_shifted_training_reduces_the_loss(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=40, learning_rate=1e-2, shift_logits=True)
    trainer.eval_dataset = trainer.train_dataset
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < 0.7 * before


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


def test_smollm2_recipe_shifts_and_llada_does_not():
    from trl_maskft.scripts.diffusion_sft import make_parser

    for model, shift in [("smollm2-135m-instruct", True), ("llada-8b-instruct", False)]:
        recipe = os.path.join(ROOT, "recipes", model, "diffusion_sft", "config_people.yaml")
        training_args = make_parser().parse_args_and_config(["--config", recipe, "--use_cpu", "true"])[1]
        assert training_args.shift_logits is shift

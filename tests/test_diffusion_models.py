"""Diffusion SFT on models: bidirectional attention, natively bidirectional remote-code models (LLaDA)."""

import importlib.util
import json
import math
from types import SimpleNamespace

import pytest
import torch
from diffusion_helpers import (
    chats,
    collate,
    config,
    make_trainer,
)
from safetensors.torch import save_file
from tiny import make_tiny_model, make_tiny_tokenizer

from trl_maskft.common import TRAIN_STREAM
from trl_maskft.diffusion_sft.noise import (
    bidirectional_attention_mask,
    check_bidirectional_support,
    make_loadable_on_transformers_5,
)
from trl_maskft.diffusion_sft.sampler import diffusion_generate
from trl_maskft.diffusion_sft.trainer import DiffusionSFTTrainer


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


# A tiny stand-in for the remote `LLaDAModelLM` of GSAI-ML/LLaDA-8B-Instruct (`modeling_llada.py`), written like it
# for transformers 4.x: `__init__` never calls `post_init` and `tie_weights(self)` takes no arguments. It attends
# bidirectionally by itself, reads only a 2D padding mask (turned into a key bias as LLaDA does, which fails on a 4D
# mask), has no `logits_to_keep` and refuses the KV cache unless `use_cache=False` (its config says True).
REMOTE_LLADA = '''"""Tiny LLaDA-like remote code (see tests/test_diffusion_models.py)."""
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

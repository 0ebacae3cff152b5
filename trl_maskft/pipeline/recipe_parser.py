"""The scripts' argument parser: TRL's `TrlParser`, strict, with errors that say what to write instead.

A key no argument dataclass of the script knows, in the recipe or on the command line, is an error before anything
runs: a key that transformers 5 or TRL 1 renamed or removed names its replacement (`RENAMED_KEYS`,
`REMOVED_KEYS`), any other suggests the closest known key. Abbreviated options (`--learning` for
`--learning_rate`) are not accepted, a recipe that is not UTF-8 is named with its line, and a key written twice in
one mapping of a recipe is an error naming both lines (YAML would keep the last one silently).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

import yaml
from trl import ModelConfig, TrlParser

from ..runtime.precision import precision_line_deferred
from ..runtime.recipe_checks import bullet_list
from ..runtime.text_files import text_lines

# Keys of older transformers / TRL versions and the key that replaced them
RENAMED_KEYS = {
    "evaluation_strategy": "eval_strategy",
    "torch_dtype": "dtype",
    "max_seq_length": "max_length",
    "warmup_ratio": "warmup_steps",  # transformers 5: `warmup_steps` below 1 is a fraction of the steps
    "per_gpu_train_batch_size": "per_device_train_batch_size",
    "per_gpu_eval_batch_size": "per_device_eval_batch_size",
    "no_cuda": "use_cpu",
    "push_to_hub_token": "hub_token",
    "push_to_hub_model_id": "hub_model_id",
    "push_to_hub_organization": "hub_model_id",
    "include_inputs_for_metrics": "include_for_metrics",
    "include_tokens_per_second": "include_num_input_tokens_seen",
    "tpu_metrics_debug": "debug",
    "use_liger": "use_liger_kernel",
}
RENAME_NOTES = {"warmup_ratio": " (a value below 1 is a fraction of the training steps)"}
# Keys that transformers 5 removed without a one-to-one replacement, and what to do instead
REMOVED_KEYS = {
    "overwrite_output_dir": "to continue a run set `resume_from_checkpoint`, otherwise choose a new `output_dir`",
    "logging_dir": "set the TENSORBOARD_LOGGING_DIR environment variable (e.g. in the recipe's `env:`)",
    "save_safetensors": "checkpoints are always safetensors now: remove it",
    "use_mps_device": "MPS is used whenever it is available: remove it",
    "fp16_backend": "mixed precision always uses torch.amp: remove it",
    "half_precision_backend": "mixed precision always uses torch.amp: remove it",
    "jit_mode_eval": "use `torch_compile`",
    "tpu_num_cores": "set the TPU_NUM_CORES environment variable",
    "ray_scope": "set the RAY_SCOPE environment variable",
    "fsdp_min_num_params": "give `min_num_params` inside `fsdp_config`",
    "fsdp_transformer_layer_cls_to_wrap": "give `transformer_layer_cls_to_wrap` inside `fsdp_config`",
    "past_index": "remove it",
    "mp_parameters": "remove it",
    "use_legacy_prediction_loop": "remove it",
}


def unknown_key_hint(key: str, known: Iterable[str], spelling: str) -> str:
    """Why `key` is not accepted and what to write instead; `spelling` shows a key with its value, e.g.
    `"{key}: epoch"` for a recipe or `"--{key} epoch"` for the command line."""
    if key in RENAMED_KEYS:
        new = RENAMED_KEYS[key]
        return f"`{key}` is now `{new}`{RENAME_NOTES.get(key, '')}: write `{spelling.format(key=new)}`"
    if key in REMOVED_KEYS:
        return f"`{key}` was removed by transformers 5: {REMOVED_KEYS[key]}"
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    if close:
        return f"`{key}` is not a key of this script; did you mean `{close[0]}` (`{spelling.format(key=close[0])}`)?"
    return f"`{key}` is not a key of this script (`--help` lists them)"


def _value_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class _DuplicateKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a mapping holding a key twice, naming the key and both lines."""

    path = "the recipe"

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            lines = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise ValueError(
                        f"`{key}` is written twice in {self.path}: lines {lines[key]} and {line} (YAML would "
                        "silently keep the last one). Keep one of them."
                    )
                lines[key] = line
        return super().construct_mapping(node, deep=deep)


def check_duplicate_keys(path: str) -> None:
    """Refuse a YAML recipe at `path` that writes a key twice in one mapping, naming the key and both lines."""
    loader = type("Loader", (_DuplicateKeyLoader,), {"path": path})
    with open(path) as f:
        yaml.load(f, Loader=loader)


class RecipeParser(TrlParser):
    """`TrlParser` (a recipe with `--config`, overridden by `--key value` arguments) that refuses unknown keys with
    the hints of `unknown_key_hint`, and abbreviated options. A config's precision line (`PrecisionMixin`) names the
    dtype of the `ModelConfig` parsed beside it, which loads the weights."""

    def __init__(self, dataclass_types=None, **kwargs):
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)
        self._recipe: str | None = None

    def known_keys(self) -> set[str]:
        """Every key the parser accepts (the fields of its dataclasses)."""
        return {action.dest for action in self._actions if action.dest != "help"}

    def parse_args_and_config(self, args: Iterable[str] | None = None, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        self._recipe = args[args.index("--config") + 1] if "--config" in args[:-1] else None
        if self._recipe is not None:
            for _ in text_lines(self._recipe):  # a byte that is not UTF-8 is named with its line
                pass
            check_duplicate_keys(self._recipe)
        with precision_line_deferred() as waiting:
            outputs = super().parse_args_and_config(args, **kwargs)
        dtype = next((output.dtype for output in outputs if isinstance(output, ModelConfig)), None)
        for config in waiting:
            config.print_precision((config.model_init_kwargs or {}).get("dtype", dtype))
        return outputs

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        known = self.known_keys()
        unknown = [key for key in kwargs if key not in known]
        if unknown:
            hints = [unknown_key_hint(key, known, f"{{key}}: {_value_text(kwargs[key])}") for key in unknown]
            raise ValueError(f"Unknown key(s) in the recipe {self._recipe}:{bullet_list(hints)}")
        return super().set_defaults_with_config(**kwargs)

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings=False, **kwargs):
        if not return_remaining_strings:
            _, remaining = self.parse_known_args(args=args)
            if remaining:
                hints = self._command_line_hints(remaining)
                raise ValueError(f"Unknown command-line argument(s):{bullet_list(hints)}")
        return super().parse_args_into_dataclasses(args, return_remaining_strings, **kwargs)

    def _command_line_hints(self, remaining: list[str]) -> list[str]:
        known, hints = self.known_keys(), []
        for i, token in enumerate(remaining):
            if not token.startswith("--"):
                if i == 0:
                    hints.append(f"`{token}` is not a `--key value` pair")
                continue
            key, _, value = token[2:].partition("=")
            values = [value] if value else []
            for following in remaining[i + 1 :]:
                if following.startswith("--"):
                    break
                values.append(following)
            spelling = " ".join(["--{key}", *values])
            hints.append(unknown_key_hint(key.replace("-", "_"), known, spelling))
        return hints

"""Every accelerate config, read the way `accelerate launch --config_file` reads it.

`load_config_from_file` checks the top-level keys only: `accelerate launch` copies every key of `fsdp_config` and
`deepspeed_config` onto its arguments, so a misspelled key, or an FSDP1 key in an FSDP2 config, is silently ignored.
Here the nested keys must be launch arguments, FSDP2 configs must hold FSDP2 keys only (as accelerate's `to-fsdp2`
converter maps them), and the plugins that the launched processes build from the launcher's environment must have the
intended FSDP version and ZeRO stage.
"""

import glob
import os

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.commands.to_fsdp2 import ARGUMENT_KEY_MAPPING
from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "accelerate_configs", "*.yaml")))
EXPECTED = [
    "cpu",
    "cpu_ddp2",
    "cpu_fsdp2",
    "cpu_zero2",
    "cpu_zero3",
    "ddp",
    "fsdp2",
    "single_device",
    "zero2",
    "zero3",
]


def config_path(name: str) -> str:
    return os.path.join(ROOT, "accelerate_configs", f"{name}.yaml")


def launch_args(path: str):
    """The launcher's arguments for `accelerate launch --config_file <path> train.py` (the config merged into them as
    `accelerate launch` does) and the loaded config."""
    parser = launch_command_parser()
    args, config, _ = _validate_launch_command(
        parser.parse_args(["--config_file", path, "--main_process_port", "0", "x.py"])
    )
    return args, config


def unknown_nested_keys(config) -> list[str]:
    """`fsdp_config` and `deepspeed_config` keys that are no `accelerate launch` argument (named as the launcher
    names them: `fsdp_` is prepended to FSDP keys without it)."""
    dests = {action.dest for action in launch_command_parser()._actions}
    keys = [key if key.startswith("fsdp") else f"fsdp_{key}" for key in config.fsdp_config]
    return [key for key in [*keys, *config.deepspeed_config] if key not in dests]


def fsdp1_keys(config) -> list[str]:
    """`fsdp_config` keys that FSDP2 does not take: those accelerate's `to-fsdp2` converter renames or drops."""
    return [key for key in config.fsdp_config if ARGUMENT_KEY_MAPPING.get(key, key) != key]


def launched_env(monkeypatch, env: dict[str, str]) -> None:
    """Set the variables that the launcher sets for its processes."""
    for key, value in env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)


def test_every_expected_config_exists():
    assert {f"{name}.yaml" for name in EXPECTED} <= {os.path.basename(path) for path in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_loads_and_launches_with_known_keys_only(path):
    assert load_config_from_file(path).num_processes >= 1
    args, config = launch_args(path)
    assert unknown_nested_keys(config) == []
    if config.fsdp_config.get("fsdp_version") == 2:
        assert fsdp1_keys(config) == []


def test_fsdp2_config_builds_an_fsdp2_plugin(monkeypatch):
    args, config = launch_args(config_path("fsdp2"))
    assert args.use_fsdp and args.num_processes == 8
    launched_env(monkeypatch, prepare_multi_gpu_env(args))
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "FULL_STATE_DICT" and plugin.cpu_ram_efficient_loading is True
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"


def test_cpu_fsdp2_config_builds_an_fsdp2_plugin_for_two_cpu_processes(monkeypatch):
    args, config = launch_args(config_path("cpu_fsdp2"))
    assert args.use_fsdp and args.num_processes == 2 and args.mixed_precision == "no"
    launched_env(monkeypatch, prepare_multi_gpu_env(args))
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"
    assert type(plugin.cpu_offload).__name__ == "OffloadPolicy"  # no offloading: CPU processes cannot pin memory


@pytest.mark.parametrize("name", ["zero2", "zero3", "cpu_zero2", "cpu_zero3"])
def test_zero_config_builds_a_deepspeed_plugin_of_its_stage(name, monkeypatch):
    stage = int(name[-1])
    args, config = launch_args(config_path(name))
    assert args.use_deepspeed
    if name.startswith("cpu_"):
        assert args.num_processes == 2 and args.mixed_precision == "no"
    # as `accelerate launch` does before handing over to its DeepSpeed launcher
    args.deepspeed_fields_from_accelerate_config = ",".join(config.deepspeed_config)
    _, env = prepare_deepspeed_cmd_env(args)
    launched_env(monkeypatch, env)
    plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == stage and plugin.deepspeed_config["zero_optimization"]["stage"] == stage
    if stage == 3:
        assert plugin.zero3_init_flag is True
        assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_cpu_ddp2_config_starts_two_processes():
    args, _ = launch_args(config_path("cpu_ddp2"))
    assert args.multi_gpu and not args.use_fsdp and not args.use_deepspeed
    prepare_multi_gpu_env(args)
    assert args.nproc_per_node == "2"


@pytest.mark.parametrize(
    "name,section,key,value,check",
    [
        ("fsdp2", "fsdp_config", "fsdp_reshard_after_forwrd", True, unknown_nested_keys),
        ("fsdp2", "fsdp_config", "fsdp_sharding_strategy", "FULL_SHARD", fsdp1_keys),
        ("fsdp2", "fsdp_config", "fsdp_use_orig_params", True, fsdp1_keys),
        ("zero3", "deepspeed_config", "zero_stag", 3, unknown_nested_keys),
    ],
)
def test_the_checks_catch_what_accelerate_would_ignore(name, section, key, value, check, tmp_path):
    with open(config_path(name)) as f:
        config = yaml.safe_load(f)
    config[section][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    load_config_from_file(str(path))  # accelerate's own loader accepts it
    _, loaded = launch_args(str(path))
    assert check(loaded) == [key]

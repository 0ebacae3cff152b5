"""Run by test_fsdp.py and test_fsdp_refusals.py under `accelerate launch` with a 2-process CPU config:
`distributed_scripts.py RUNS_JSON`.

`RUNS_JSON` holds `{"out_dir": ..., "runs": [{"name", "kind", "args", "env"}, ...]}`. Each run calls the `main` of
`trl_maskft.scripts.<kind>` with `args` and `--output_dir <out_dir>/<name>`, after setting the variables of `env` in
the environment (those set to null are removed: e.g. without `ACCELERATE_USE_FSDP`, an FSDP launch is DDP over
gloo); a run with `"refused": true` must raise a `ValueError`, whose message each rank keeps in
`<out_dir>/<name>.refused.<rank>` (such a run is launched alone: its processes may share no process group). Rank 0
writes `<out_dir>/results.json`: per run, the distributed type, the step losses, the QA history and every rank's view
of one decoder weight (class, FSDP placements, shape and its local values: the DTensor's shard or ZeRO-3's
partition).

The runs share one process group: `Trainer.end`, which destroys it at the end of every script, is deferred to the end.
"""

import importlib
import json
import os
import sys

import torch.distributed as dist
from accelerate.utils import gather_object
from launched import run_and_exit
from transformers import Trainer

Trainer.end = lambda self: None  # keep the process group for the next run


def local_values(weight) -> list:
    """The values this rank holds of `weight`: an FSDP2 shard, a ZeRO-3 partition (flat) or the whole tensor."""
    if hasattr(weight, "ds_tensor"):
        return weight.ds_tensor.tolist()
    return getattr(weight, "_local_tensor", weight).tolist()


def run(kind: str, out_dir: str, name: str, args: list[str], env: dict, refused: bool = False) -> dict:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    script = importlib.import_module(f"trl_maskft.scripts.{kind}")
    argv = [*args, "--output_dir", os.path.join(out_dir, name)]
    if refused:  # the script must refuse the launch: its message on every rank
        try:
            script.main(argv)
        except ValueError as error:
            with open(os.path.join(out_dir, f"{name.replace('/', '_')}.refused.{os.environ['RANK']}"), "w") as f:
                f.write(str(error))
            return {"refused": True}
        raise AssertionError(f"{name} was not refused")
    qa = script.main(argv)
    trainer = qa.trainer
    weight = trainer.model.model.layers[0].self_attn.q_proj.weight
    view = {
        "class": type(weight).__name__,
        "placements": str(getattr(weight, "placements", None)),
        "shape": list(getattr(weight, "ds_shape", weight.shape)),
        "local": local_values(weight),
    }
    return {
        "distributed_type": trainer.accelerator.distributed_type.name,
        "weight": gather_object([view]),
        "losses": {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log},
        "history": qa.history,
    }


def main(runs_json: str) -> None:
    with open(runs_json) as f:
        spec = json.load(f)
    results = {run_spec["name"]: run(out_dir=spec["out_dir"], **run_spec) for run_spec in spec["runs"]}
    if os.environ["RANK"] == "0":
        with open(os.path.join(spec["out_dir"], "results.json"), "w") as f:
            json.dump({"world_size": int(os.environ["WORLD_SIZE"]), "results": results}, f)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1])

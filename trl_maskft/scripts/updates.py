"""Train a sequence of knowledge updates, each from the previous update's model, and report what was retained
(the R matrix per direction, average accuracy, backward transfer) and what the edits changed (docs/updates.md).

```bash
trl-maskft-updates --config recipes/smollm2-135m-instruct/masked_sft/config_people_updates.yaml
```

Update `k` trains `<output_dir>/update_<k>` with the method's script (`updates_method`) on a run recipe written to
`<output_dir>/data/update_<k>/recipe.yaml`: the method's keys, the previous update's model, the update's documents
(plus replayed earlier documents, `update_replay_ratio`) and the QA items of updates 1..k. A finished update
(`data/update_<k>/update_done.json`) is skipped when rerun with the same run recipe, and refused with another; an
interrupted one resumes from its last complete checkpoint (`resume_from_checkpoint: last`), or restarts from the
previous update's model when it saved none. `--launcher "accelerate launch --config_file <file>"` runs each update
as a process of its own through that launcher (several processes per update); otherwise they run one after another
in this process.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shlex
import subprocess
import time

import yaml

from ..data.qa_io import load_qa_jsonl
from ..pipeline.recipe_parser import unknown_key_hint
from ..runtime.checkpoints import last_complete_checkpoint
from ..runtime.recipe_checks import bullet_list
from ..updates.metrics import average_accuracy, backward_transfer, edit_metrics, later_fact_answers, retention_matrix
from ..updates.report import plot_matrices, updates_report, write_updates_csv
from ..updates.sequence import load_updates, write_update_data
from ..updates.spec import UpdatesRecipe, parse_updates_recipe
from .compare import accepted_keys, read_history

DONE_MARKER = "update_done.json"
PEOPLE_ONLY_KEYS = ("qa_templates_per_person",)  # read by the generator, refused by a corpus run


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--config", required=True, help="The updates recipe (a method recipe plus `updates:`).")
    parser.add_argument(
        "--launcher", default=None, help="Command that launches each update's script, e.g. `accelerate launch`."
    )
    return parser


def check_method_keys(recipe: UpdatesRecipe) -> None:
    """Refuse, before anything trains, a key of the recipe that its method's script does not accept."""
    known = accepted_keys(recipe.method)
    unknown = [key for key in recipe.method_keys if key not in known]
    if unknown:
        hints = [unknown_key_hint(key, known, f"{{key}}: {recipe.method_keys[key]}") for key in unknown]
        raise ValueError(
            f"Unknown key(s) in the recipe {recipe.path} (`updates_method: {recipe.method}`):{bullet_list(hints)}"
        )


def run_keys(recipe: UpdatesRecipe, index: int, documents: str, qa_file: str) -> dict:
    """The run recipe of update `index` (0-based): the method's keys, the previous update's model, its data."""
    keys = {key: value for key, value in recipe.method_keys.items() if key not in PEOPLE_ONLY_KEYS}
    previous = os.path.join(recipe.output_dir, f"update_{index}")
    return {
        **keys,
        "model_name_or_path": previous if index else keys.get("model_name_or_path"),
        "output_dir": os.path.join(recipe.output_dir, f"update_{index + 1}"),
        "dataset_name": documents,
        "qa_file": qa_file,
    }


def data_digests(*paths: str) -> dict[str, str]:
    """The SHA-256 of each data file of an update, by file name: what its done marker records of its data."""
    digests = {}
    for path in paths:
        with open(path, "rb") as f:
            digests[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def finished(data_dir: str, keys: dict, digests: dict[str, str], index: int) -> dict | None:
    """The done marker (in `data_dir`) of update `index` (0-based) finished with the run recipe `keys` on the data
    of `digests`; an error for another recipe or other data."""
    path = os.path.join(data_dir, DONE_MARKER)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        done = json.load(f)
    changed = sorted(key for key in set(done["recipe"]) | set(keys) if done["recipe"].get(key) != keys.get(key))
    changed += sorted(name for name, digest in digests.items() if done.get("data", {}).get(name) != digest)
    if changed:
        raise ValueError(
            f"Update {index + 1} ({keys['output_dir']}) finished with another recipe or data (changed: {changed}); "
            "the later updates build on it. Restore the recipe to continue the sequence, or choose a new `output_dir`."
        )
    return done


def resume_argv(folder: str) -> list[str]:
    """How an update's run continues: from its last complete checkpoint, afresh over an interrupted run that saved
    none (its recorded files deleted), or as a new run."""
    if os.path.isdir(folder) and last_complete_checkpoint(folder):
        return ["--resume_from_checkpoint", "last"]
    if os.path.isdir(folder) and os.listdir(folder):
        return ["--overwrite_run", "true"]
    return []


def run_update(method: str, recipe_file: str, extra: list[str], launcher: str | None) -> None:
    argv = ["--config", recipe_file, *extra]
    if launcher:
        subprocess.run([*shlex.split(launcher), "-m", f"trl_maskft.scripts.{method}", *argv], check=True)
    else:
        importlib.import_module(f"trl_maskft.scripts.{method}").main(argv)


def run_sequence(recipe: UpdatesRecipe, launcher: str | None) -> tuple[list[float], list[dict]]:
    """Run (or skip, or resume) every update in order; the wall time and final QA metrics row of each."""
    updates = load_updates(recipe)
    seed, wall_times, final_rows = recipe.method_keys.get("dataset_seed", 0), [], []
    for index in range(len(updates)):
        data_dir = os.path.join(recipe.output_dir, "data", f"update_{index + 1}")
        data = write_update_data(data_dir, updates, index, recipe.replay_ratio, seed)
        keys, digests = run_keys(recipe, index, *data), data_digests(*data)
        folder = keys["output_dir"]
        done = finished(data_dir, keys, digests, index)
        if done is None:
            recipe_file = os.path.join(data_dir, "recipe.yaml")
            with open(recipe_file, "w") as f:
                yaml.safe_dump(keys, f, sort_keys=False)
            start = time.perf_counter()
            run_update(recipe.method, recipe_file, resume_argv(folder), launcher)
            done = {"recipe": keys, "data": digests, "wall_time_s": time.perf_counter() - start}
            with open(os.path.join(data_dir, DONE_MARKER), "w") as f:
                json.dump(done, f, indent=2)
        wall_times.append(done["wall_time_s"])
        final_rows.append(read_history(folder)[-1])
    return wall_times, final_rows


def write_reports(recipe: UpdatesRecipe, wall_times: list[float], final_rows: list[dict]) -> str:
    """Write `updates.json` (the numbers), `updates.csv`, `updates.png` and `updates.md`; returns the last."""
    matrices = {direction: retention_matrix(final_rows, direction) for direction in ("forward", "backward")}
    last = os.path.join(recipe.output_dir, f"update_{len(final_rows)}")
    with open(os.path.join(last, "qa_generations", f"epoch_{final_rows[-1]['epoch']}.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    items = load_qa_jsonl(os.path.join(recipe.output_dir, "data", f"update_{len(final_rows)}", "qa.jsonl"))
    qa_score = recipe.method_keys.get("qa_score", "paper")
    edits, later = edit_metrics(records, items, qa_score), later_fact_answers(records, qa_score)
    summary = {
        "matrices": matrices,
        "average_accuracy": {direction: average_accuracy(matrix) for direction, matrix in matrices.items()},
        "backward_transfer": {direction: backward_transfer(matrix) for direction, matrix in matrices.items()},
        "wall_time_s": wall_times,
        "edits": edits,
        "later_fact": later,
        "retention": [{key: value for key, value in row.items() if key.startswith("retain_")} for row in final_rows],
    }
    with open(os.path.join(recipe.output_dir, "updates.json"), "w") as f:
        json.dump(summary, f, indent=2)
    report = updates_report(matrices, wall_times, edits, final_rows, later)
    with open(os.path.join(recipe.output_dir, "updates.md"), "w") as f:
        f.write(report)
    write_updates_csv(os.path.join(recipe.output_dir, "updates.csv"), matrices)
    plot_matrices(os.path.join(recipe.output_dir, "updates.png"), matrices)
    return report


def main(argv: list[str] | None = None) -> None:
    """Run (or resume) every update, then write the reports and print `updates.md` (returns nothing: the console
    script would take a returned value for an exit status)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            "trl-maskft-updates runs the updates one after another and cannot be launched on several processes: run "
            'it as a plain command with `--launcher "accelerate launch ..."` to launch each update\'s script.'
        )
    args = make_parser().parse_args(argv)
    recipe = parse_updates_recipe(args.config)
    check_method_keys(recipe)
    print(write_reports(recipe, *run_sequence(recipe, args.launcher)))


if __name__ == "__main__":
    main()

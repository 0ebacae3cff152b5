"""An updates recipe: a method's recipe (every key of its script) plus `updates_method`, `updates` (the knowledge
sources, in order) and `update_replay_ratio`, parsed strictly.

```yaml
updates_method: masked_sft      # the script each update runs: masked_sft or sft
update_replay_ratio: 0.5        # replayed earlier documents per document of the update (0: none)
updates:
  - {dataset_name: people, num_people: 10}
  - {dataset_name: people, num_people: 10}
  - {dataset_name: people, num_people: 10, num_edits: 5}
  - {dataset_name: data/news_week_4.jsonl, qa_file: data/news_week_4_qa.jsonl}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from ..runtime.recipe_checks import bullet_list
from .parts import parse_part

METHODS = ("masked_sft", "sft")
# Keys of the data an update names: in `updates:`, not at the top of the recipe
DATA_KEYS = ("dataset_name", "num_people", "qa_file", "paraphrase_file")
UPDATE_KEYS = {
    "dataset_name": "`people` (built-in people) or any knowledge source of `dataset_name` (a corpus: with `qa_file`)",
    "num_people": "new people of a `people` update",
    "num_edits": "people of earlier `people` updates this update gives a new description",
    "qa_file": "JSONL of QA items of a corpus update (`old_answers` on the items of facts it edits)",
    "part": "`k/n`: the k-th of n shares of a source's documents and the QA items they answer (`updates/parts.py`)",
}


@dataclass(frozen=True)
class UpdateSource:
    """One update's knowledge: `dataset_name` and its keys."""

    dataset_name: str
    num_people: int = 10
    num_edits: int = 0
    qa_file: str | None = None
    part: str | None = None


@dataclass
class UpdatesRecipe:
    """A parsed updates recipe: the method, its recipe's keys (data keys excepted), the updates and the replay."""

    path: str
    method: str
    updates: list[UpdateSource]
    replay_ratio: float = 0.0
    method_keys: dict = field(default_factory=dict)

    @property
    def output_dir(self) -> str:
        return self.method_keys["output_dir"]


def _source(path: str, index: int, entry) -> UpdateSource:
    where = f"{path}, `updates` item {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping such as `{{dataset_name: people, num_people: 10}}`.")
    unknown = sorted(set(entry) - set(UPDATE_KEYS))
    if unknown:
        keys = [f"`{key}`: {meaning}" for key, meaning in UPDATE_KEYS.items()]
        raise ValueError(f"{where}: unknown key(s) {unknown}; an update's keys are:{bullet_list(keys)}")
    if not isinstance(entry.get("dataset_name"), str) or not entry["dataset_name"].strip():
        raise ValueError(f"{where}: `dataset_name` (a non-empty string) is required.")
    people = entry["dataset_name"] == "people"
    wrong = [key for key in ("num_people", "num_edits") if key in entry and not people]
    wrong += [key for key in ("qa_file", "part") if people and key in entry]
    if wrong:
        raise ValueError(f"{where}: {wrong} do not apply to `dataset_name: {entry['dataset_name']}`.")
    for key in ("num_people", "num_edits"):
        value = entry.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: `{key}` must be a whole number >= 0, got {value!r}.")
    if "part" in entry and parse_part(entry["part"]) is None:
        raise ValueError(f"{where}: `part` must be `k/n` with 1 <= k <= n (e.g. `1/3`), got {entry['part']!r}.")
    if index == 1 and entry.get("num_edits"):
        raise ValueError(f"{where}: the first update cannot edit facts (`num_edits`): no earlier update taught any.")
    return UpdateSource(**entry)


def parse_updates_recipe(path: str) -> UpdatesRecipe:
    """The updates recipe at `path`; a clear error naming the file (and the update) for what cannot run."""
    with open(path, encoding="utf-8") as f:
        keys = yaml.safe_load(f) or {}
    if not isinstance(keys, dict):
        raise ValueError(f"{path}: a recipe is a mapping of keys.")
    method = keys.pop("updates_method", None)
    if method not in METHODS:
        raise ValueError(
            f"{path}: `updates_method` must be one of {METHODS} (the script each update runs), got {method!r}."
        )
    updates = keys.pop("updates", None)
    if not isinstance(updates, list) or not updates:
        raise ValueError(
            f"{path}: `updates` must be a non-empty list of knowledge sources, in order, e.g. "
            "`[{dataset_name: people, num_people: 10}, {dataset_name: people, num_people: 10, num_edits: 5}]`."
        )
    ratio = keys.pop("update_replay_ratio", 0.0)
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or ratio < 0:
        raise ValueError(f"{path}: `update_replay_ratio` must be a number >= 0, got {ratio!r}.")
    misplaced = [key for key in DATA_KEYS if key in keys]
    if misplaced:
        raise ValueError(f"{path}: {misplaced} name an update's data: write them in each item of `updates`.")
    best = [key for key in ("qa_keep_best", "load_best_model_at_end") if keys.get(key)]
    if best:
        raise ValueError(
            f"{path}: {best} would save an earlier epoch's weights, while the next update must continue from the "
            "weights whose QA row fills R (the last one). Remove them from the updates recipe."
        )
    if not keys.get("output_dir"):
        raise ValueError(f"{path}: `output_dir` (the folder of the sequence, one sub-folder per update) is required.")
    sources = [_source(path, index, entry) for index, entry in enumerate(updates, start=1)]
    if "qa_templates_per_person" in keys and not any(source.dataset_name == "people" for source in sources):
        raise ValueError(
            f"{path}: `qa_templates_per_person` applies to `people` updates, and there is none: remove it."
        )
    return UpdatesRecipe(path, method, sources, float(ratio), keys)

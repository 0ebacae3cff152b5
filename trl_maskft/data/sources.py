"""Knowledge datasets by name: the built-in generators, NameDescription folders, local files and Hub datasets.

`dataset_name` is one of:

- `"people"`: invented people, "{name} is {description}." (`build_people_dataset`);
- `"biographies"`: biographies of fictitious people (`generate_biographies`), or `"biographies:<file.jsonl>"` for
  biographies read from JSONL (`load_biographies_jsonl`);
- `"name_description:<folder>"`: the reversal-curse layout of Berglund et al. (`load_name_description`);
- `"masked_arllm:<folder>:<dataset>"`: the paper's own data as it is, the `datasets/` folder of its repository
  (xup5/masked_arLLM) and one of its dataset names `ND`, `biography`, `wiki` (`load_masked_arllm`);
- a local documents file (`.jsonl` with `text` and optional `entities`, a `.json` array of `{"text": ...}` or of
  strings, or `.txt`), e.g. wiki-style passages, with QA items in `qa_file`;
- otherwise a Hub dataset id, whose `train` split has a `text` column, with QA items in `qa_file`.

Paraphrases of local or Hub documents come from `paraphrase_file` (`load_paraphrases_jsonl`); the built-in and
NameDescription datasets bring their own. The entities that reverse training keeps whole (`KnowledgeData.entities`) are
the people's names of `"people"` and NameDescription, the names and attribute values of biographies, the names and
attributes asked by the paper's ND and Biography questions (`masked_arllm`), and the `entities` of local JSONL
documents.
"""

from __future__ import annotations

import os

import datasets

from .biographies import build_biographies_dataset, generate_biographies, load_biographies_jsonl
from .masked_arllm import load_masked_arllm
from .name_description import load_name_description
from .people import build_people_dataset
from .qa_io import load_documents_with_entities, load_paraphrases_jsonl, load_qa_jsonl
from .schema import KnowledgeData
from .transforms import PARAPHRASE_MODES

BUILT_IN = ("people", "biographies")
PREFIXES = ("biographies", "name_description", "masked_arllm")


def load_knowledge_source(
    name: str,
    qa_file: str | None = None,
    dataset_config: str | None = None,
    num_people: int = 30,
    seed: int = 0,
    paraphrases: str = "none",
    paraphrase_file: str | None = None,
    num_paraphrases: int | None = None,
    num_eval_templates: int | None = None,
) -> KnowledgeData:
    """The documents, QA items and (unless `paraphrases` is `"none"`) paraphrase sets named by `name`.

    Args:
        name: see the module's doc.
        qa_file: JSONL of QA items, for local and Hub documents.
        dataset_config: Hub dataset configuration.
        num_people: size of the built-in datasets.
        seed: seed of the built-in datasets.
        paraphrases: `"none"`, `"same_order"` or `"permuted"`.
        paraphrase_file: JSONL of paraphrase sets, for local and Hub documents.
        num_paraphrases: paraphrases per document (default: all there are).
        num_eval_templates: question templates per person and direction, for `people` (default one).
    """
    if paraphrases not in PARAPHRASE_MODES:
        raise ValueError(f"Unknown paraphrase mode {paraphrases!r}; expected one of {PARAPHRASE_MODES}.")
    if num_paraphrases is not None and num_paraphrases < 1:
        raise ValueError(f"`num_paraphrases` must be at least 1, got {num_paraphrases}.")
    prefix, _, location = name.partition(":")
    generated = name in BUILT_IN or (prefix in PREFIXES and location)
    if generated and (qa_file or paraphrase_file):
        raise ValueError(
            f"{name!r} brings its own QA items and paraphrases; do not set `qa_file` or `paraphrase_file`."
        )
    if num_eval_templates is not None and name != "people":
        raise ValueError(f"`num_eval_templates` (`qa_templates_per_person`) applies to `people` only, not {name!r}.")
    if name == "people":
        return build_people_dataset(num_people, seed, num_eval_templates, paraphrases, num_paraphrases)
    if name == "biographies" or (prefix == "biographies" and location):
        people = generate_biographies(num_people, seed) if name == "biographies" else load_biographies_jsonl(location)
        return build_biographies_dataset(people, paraphrases, num_paraphrases, seed)
    if prefix == "name_description" and location:
        return load_name_description(location, paraphrases, num_paraphrases)
    if prefix == "masked_arllm" and location:
        return load_masked_arllm(location, paraphrases, num_paraphrases)
    return _documents_with_qa(name, qa_file, dataset_config, paraphrases, paraphrase_file, num_paraphrases)


def _documents_with_qa(
    name: str,
    qa_file: str | None,
    dataset_config: str | None,
    paraphrases: str,
    paraphrase_file: str | None,
    num_paraphrases: int | None,
) -> KnowledgeData:
    """Local or Hub documents with the QA items of `qa_file` and the paraphrases of `paraphrase_file`."""
    if os.path.exists(name):
        documents, entities = load_documents_with_entities(name)
    else:
        documents, entities = hub_documents(name, dataset_config), []
    if qa_file is None:
        raise ValueError(f"The documents of {name!r} need `qa_file` (JSONL of QA items) for evaluation.")
    if (paraphrases == "none") != (paraphrase_file is None):
        raise ValueError("Set `paraphrase_file` exactly when `paraphrases` is not 'none'.")
    sets = None
    if paraphrase_file is not None:
        sets = [group[:num_paraphrases] for group in load_paraphrases_jsonl(paraphrase_file, len(documents))]
    return KnowledgeData(documents=documents, qa=load_qa_jsonl(qa_file), paraphrases=sets, entities=entities)


def hub_documents(name: str, config: str | None = None) -> list[str]:
    """The `text` column of the `train` split of Hub dataset `name`; a clear error when it cannot be loaded."""
    try:
        dataset = datasets.load_dataset(name, config, split="train")
    except (OSError, ValueError) as err:  # not found, offline, unreachable
        raise ValueError(
            f"`dataset_name` {name!r} is not a built-in dataset ({', '.join(BUILT_IN)}, "
            f"{', '.join(p + ':<path>' for p in PREFIXES)}), not an existing local file, and loading it from the Hub "
            f"failed: {err}"
        ) from err
    if "text" not in dataset.column_names:
        raise ValueError(
            f"The Hub dataset {name!r} has columns {dataset.column_names}; documents need a 'text' column."
        )
    return list(dataset["text"])

"""The paper's own datasets as they are: the `datasets/` folder of its repository (github.com/xup5/masked_arLLM).

`dataset_name: masked_arllm:<folder>:<dataset>` with `<dataset>` one of the paper's names, `ND` (NameDescription:
60 statements, 480 open-ended questions), `biography` (100 biographies, 900 questions) or `wiki` (94 passages), reads

- the documents from `<prefix>_train_no_paraphrase.json`;
- with `paraphrases: same_order` the paraphrase file the paper's code trains on, `<prefix>_train_paraphrase_same_order
  .json` (`ND_train_paraphrase.json` for ND), with `permuted` its "change_order" one,
  `<prefix>_train_paraphrase_change_order.json` (ND has a single set, as in the paper's code);
- the questions from `<prefix>_test.jsonl`, directed by `paper_format.paper_direction` and grouped by their `group`
  (NameDescription: `NameIsDescription` / `DescriptionIsName`, the N2D / D2N columns of the paper's Table 5).

A paraphrase file is flat: each document followed by its paraphrases. It is split back into one set per document
(each document starts its set), so that training on the documents with their paraphrases is training on the paper's
file, in its order. The entities that reverse training keeps whole are the answers that are names or attributes:
the D2N answers of ND (the names), every answer of Biography (names and attribute values), none for Wiki (whose
answers are phrases; the heuristic of `transforms.entity_units` applies).
"""

from __future__ import annotations

import os

from .paper_format import STATEMENT_ORDER, read_json_texts
from .qa_io import load_qa_jsonl
from .schema import KnowledgeData, QAItem
from .transforms import PARAPHRASE_MODES

REPOSITORY = "https://github.com/xup5/masked_arLLM"
PREFIXES = {"nd": "ND", "biography": "biography", "wiki": "wiki"}  # the paper's dataset names, any case
PARAPHRASE_FILES = {"same_order": "paraphrase_same_order", "permuted": "paraphrase_change_order"}


def train_file(prefix: str, paraphrases: str = "none") -> str:
    """The paper's training file of a dataset and paraphrase mode."""
    if paraphrases == "none":
        return f"{prefix}_train_no_paraphrase.json"
    return "ND_train_paraphrase.json" if prefix == "ND" else f"{prefix}_train_{PARAPHRASE_FILES[paraphrases]}.json"


def split_paraphrase_file(documents: list[str], texts: list[str], path: str) -> list[list[str]]:
    """The paraphrase sets of `documents` in a flat paraphrase file's `texts`, where each document is followed by its
    paraphrases: the texts between a document and the next one."""
    starts, position = [], 0
    for index, document in enumerate(documents):
        try:
            position = texts.index(document, position)
        except ValueError:
            raise ValueError(
                f"{path}: document {index} of the training file ({document[:60]!r}...) is not in it, in the order of "
                "the documents: a paper's paraphrase file holds every document, each followed by its paraphrases."
            ) from None
        starts.append(position)
        position += 1
    if starts[0] != 0:
        raise ValueError(f"{path}: {starts[0]} texts come before the first document.")
    ends = [*starts[1:], len(texts)]
    return [texts[start + 1 : end] for start, end in zip(starts, ends, strict=True)]


def load_masked_arllm(location: str, paraphrases: str = "none", num_paraphrases: int | None = None) -> KnowledgeData:
    """Documents, QA items, entities and (unless `paraphrases` is `"none"`) the first `num_paraphrases` (default:
    all) paraphrases of each document from `location`, `"<folder>:<dataset>"` (see the module's doc)."""
    if paraphrases not in PARAPHRASE_MODES:
        raise ValueError(f"Unknown paraphrase mode {paraphrases!r}; expected one of {PARAPHRASE_MODES}.")
    folder, _, dataset = location.rpartition(":")
    if not folder or dataset.lower() not in PREFIXES:
        raise ValueError(
            f"`masked_arllm:{location}` names no dataset: use `masked_arllm:<folder>:<dataset>`, the dataset one of "
            f"{sorted(set(PREFIXES.values()))} (the paper's names), e.g. `masked_arllm:../masked_arLLM/datasets:ND`."
        )
    prefix = PREFIXES[dataset.lower()]
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"The paper's data folder {folder!r} was not found: clone {REPOSITORY} (e.g. `git clone {REPOSITORY} "
            "../masked_arLLM`) and point `masked_arllm:<folder>:<dataset>` at its `datasets/` folder."
        )
    documents = read_json_texts(_path(folder, train_file(prefix)))
    qa = load_qa_jsonl(_path(folder, f"{prefix}_test.jsonl"))
    sets = None
    if paraphrases != "none":
        path = _path(folder, train_file(prefix, paraphrases))
        sets = [group[:num_paraphrases] for group in split_paraphrase_file(documents, read_json_texts(path), path)]
    return KnowledgeData(documents=documents, qa=qa, paraphrases=sets, entities=_entities(prefix, qa))


def _entities(prefix: str, qa: list[QAItem]) -> list[str]:
    """The answers that are names or attributes (see the module's doc), in order, without repeats."""
    if prefix == "ND":  # the D2N questions: forward about a DescriptionIsName statement, backward otherwise
        answers = [
            item.answer for item in qa if (item.direction == "forward") == (STATEMENT_ORDER.get(item.group) == "D2N")
        ]
    else:
        answers = [item.answer for item in qa] if prefix == "biography" else []
    return list(dict.fromkeys(answers))


def _path(folder: str, name: str) -> str:
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: the paper's `datasets/` folder ({REPOSITORY}) holds {name}.")
    return path

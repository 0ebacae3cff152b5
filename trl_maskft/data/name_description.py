"""NameDescription: the fictitious celebrities of the reversal-curse study (Berglund et al. 2023, arXiv 2309.12288).

Reads a folder laid out like `data/reverse_experiments/<version>/` of their repository (lukasberglund/reversal_curse),
every line `{"prompt": str, "completion": str}`:

- `p2d_prompts_train.jsonl`: statements that name the person first ("Daphne Barrington, known far and wide for being"
  -> " the acclaimed director of ..."), about 30 per person; `d2p_prompts_train.jsonl`: statements that describe the
  person first (description -> name);
- `p2d_prompts_test.jsonl`, `d2p_prompts_test.jsonl`: held-out prompts in the training order;
- `p2d_reverse_prompts_test.jsonl`, `d2p_reverse_prompts_test.jsonl`: prompts in the reverse order.

`both_prompts_train.jsonl` (people described both ways, without test prompts) and `validation_prompts.jsonl` are not
used. A statement is prompt + completion; a person's first training statement is their document and the others are
their paraphrases (one set: the training files hold one order per person, so "same_order" and "permuted" read the same
statements, as in the paper's code). The document order defines the direction: test prompts in the training order are
forward (p2d: name -> description, d2p: description -> name) and reversed ones backward. Questions are the test prompts
in the open-ended QA style, `QA_PREFIX` + prompt; answers are the completions; groups are the subsets "p2d" and "d2p".
The people of a subset are the answers of its description -> name test file (`NAME_FILES`); their names are the
entities that reverse training keeps whole.

The test files hold cloze statements, not questions ("Daphne Barrington, known far and wide for being" -> description,
"Known for being <description>," -> name), each wording its person's description inside one of many templates. No file
gives a description on its own, so the description -> name prompts cannot be rewritten faithfully as "Who is
<description>?", and rewriting only the name -> description ones ("What is <name> known for?") would ask the two
directions in different styles and confound their comparison. The prompts are therefore kept verbatim after
`QA_PREFIX`, and the model answers by completing the statement.
"""

from __future__ import annotations

import os

from .qa_io import PathLike, read_jsonl_rows, require_field
from .schema import KnowledgeData, QAItem
from .transforms import PARAPHRASE_MODES

QA_PREFIX = "Please answer the following question based on your knowledge:\n"
SUBSETS = ("p2d", "d2p")
# The test file of each subset whose completions are the people's names (its description -> name prompts)
NAME_FILES = {"p2d": "p2d_reverse_prompts_test.jsonl", "d2p": "d2p_prompts_test.jsonl"}


def load_prompt_completions(path: PathLike) -> list[tuple[int, str, str]]:
    """`(line number, prompt, completion)` of every non-blank line; both fields must be strings, the completion
    non-empty."""
    rows = []
    for line_number, row in read_jsonl_rows(path):
        prompt, completion = (require_field(row, name, path, line_number) for name in ("prompt", "completion"))
        if not (isinstance(prompt, str) and isinstance(completion, str) and completion.strip()):
            raise ValueError(
                f"{path}, line {line_number}: 'prompt' and 'completion' must be strings, the completion non-empty."
            )
        rows.append((line_number, prompt, completion))
    if not rows:
        raise ValueError(f"{path} holds no prompts.")
    return rows


def statement(prompt: str, completion: str) -> str:
    """The training text of a prompt/completion pair."""
    return f"{prompt.strip()} {completion.strip()}".strip()


def answer_text(completion: str) -> str:
    """A completion as a reference answer: stripped, without a final period."""
    return completion.strip().removesuffix(".").strip()


def _statements_per_person(path: PathLike, names: list[str]) -> dict[str, list[str]]:
    """The statements of `path` grouped by the person they name (the longest matching name), in the order of
    `names`; every person must have at least one."""
    by_name: dict[str, list[str]] = {name: [] for name in names}
    longest_first = sorted(names, key=len, reverse=True)
    for line_number, prompt, completion in load_prompt_completions(path):
        text = statement(prompt, completion)
        name = next((name for name in longest_first if name in text), None)
        if name is None:
            raise ValueError(f"{path}, line {line_number}: names none of the {len(names)} people of its test files.")
        by_name[name].append(text)
    missing = [name for name, texts in by_name.items() if not texts]
    if missing:
        raise ValueError(f"{path} has no statement about {missing}, named in its test files.")
    return by_name


def _qa_items(path: PathLike, direction: str, group: str) -> list[QAItem]:
    return [
        QAItem(QA_PREFIX + prompt.strip(), answer_text(completion), direction, group)
        for _, prompt, completion in load_prompt_completions(path)
    ]


def load_name_description(
    directory: PathLike, paraphrases: str = "none", num_paraphrases: int | None = None
) -> KnowledgeData:
    """Documents, forward/backward QA items, the people's names as entities and, unless `paraphrases` is `"none"`,
    the first `num_paraphrases` (default: all) other statements of each person as paraphrases, from a NameDescription
    folder."""
    if paraphrases not in PARAPHRASE_MODES:
        raise ValueError(f"Unknown paraphrase mode {paraphrases!r}; expected one of {PARAPHRASE_MODES}.")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"NameDescription folder {directory!r} not found.")
    documents, sets, qa, entities = [], [], [], []
    for subset in SUBSETS:
        name_rows = load_prompt_completions(_path(directory, NAME_FILES[subset]))
        names = list(dict.fromkeys(answer_text(completion) for _, _, completion in name_rows))
        entities += names
        people = _statements_per_person(_path(directory, f"{subset}_prompts_train.jsonl"), names)
        documents += [texts[0] for texts in people.values()]
        sets += [texts[1:][:num_paraphrases] for texts in people.values()]
        qa += _qa_items(_path(directory, f"{subset}_prompts_test.jsonl"), "forward", subset)
        qa += _qa_items(_path(directory, f"{subset}_reverse_prompts_test.jsonl"), "backward", subset)
    return KnowledgeData(
        documents=documents, qa=qa, paraphrases=None if paraphrases == "none" else sets, entities=entities
    )


def _path(directory: PathLike, name: str) -> str:
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: a NameDescription folder holds {name} (see this module's doc).")
    return path

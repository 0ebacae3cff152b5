"""Knowledge to inject: the training documents and the QA items that probe it in both directions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from datasets import Dataset

DIRECTIONS = ("forward", "backward")


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


@dataclass(frozen=True)
class QAItem:
    """A question with its reference answers.

    Args:
        question: the question asked to the model.
        answers: the accepted references; a single string is stored as a one-element tuple.
        direction: `"forward"` (the question names the subject as the documents do) or `"backward"` (the reverse).
        group: optional label; metrics are also reported per non-empty group.
        old_answers: for a fact that an update edited, the answers it had before the edit (which must differ from
            `answers`); empty otherwise.
    """

    question: str
    answers: tuple[str, ...]
    direction: str
    group: str = ""
    old_answers: tuple[str, ...] = ()

    def __post_init__(self):
        if not _is_text(self.question):
            raise ValueError(f"`question` must be a non-empty string, got {self.question!r}.")
        answers = (self.answers,) if isinstance(self.answers, str) else self.answers
        if not (isinstance(answers, list | tuple) and answers and all(_is_text(answer) for answer in answers)):
            raise ValueError(f"`answers` must be a non-empty string or list of strings, got {self.answers!r}.")
        object.__setattr__(self, "answers", tuple(answers))
        old = (self.old_answers,) if isinstance(self.old_answers, str) else self.old_answers
        if not (isinstance(old, list | tuple) and all(_is_text(answer) for answer in old)):
            raise ValueError(f"`old_answers` must be a string or list of strings, got {self.old_answers!r}.")
        object.__setattr__(self, "old_answers", tuple(old))
        same = sorted(set(self.old_answers) & set(self.answers))
        if same:
            raise ValueError(
                f"old answer(s) {same} of {self.question!r} equal its new answer: an edited fact's `old_answers` "
                "are the answers it had before the edit; remove them from `old_answers` or give the new `answer`."
            )
        if not isinstance(self.group, str):
            raise ValueError(f"`group` must be a string, got {self.group!r}.")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"Unknown QA direction {self.direction!r}; expected one of {DIRECTIONS}.")

    @property
    def answer(self) -> str:
        """The first reference answer."""
        return self.answers[0]


@dataclass
class KnowledgeData:
    """Documents to train on, QA items to evaluate with and, optionally, paraphrases of each document and the named
    entities they mention (names, places, dates...), which reverse training keeps whole
    (`trl_maskft.data.transforms.reverse_words`), and where the source knows them, the ``[start, end)`` character
    spans of each document's entities (`entity_spans`, which `mask_unit: entity` hides whole)."""

    documents: list[str]
    qa: list[QAItem]
    paraphrases: list[list[str]] | None = None
    entities: list[str] = field(default_factory=list)
    entity_spans: list[list[list[int]]] | None = None

    def documents_dataset(self, text_field: str = "text") -> Dataset:
        """The documents as a language-modeling dataset with a `text_field` column."""
        return Dataset.from_dict({text_field: list(self.documents)})

    def qa_records(self) -> list[dict]:
        """The QA items as dicts with `question`, `answers` (list), `direction`, `group` and, for an edited fact,
        `old_answers` (list)."""
        records = []
        for item in self.qa:
            record = {**asdict(item), "answers": list(item.answers), "old_answers": list(item.old_answers)}
            if not item.old_answers:
                del record["old_answers"]
            records.append(record)
        return records

"""Biographies of fictitious people: birth date, birth city, university, major, employer and work city.

A biography names the person in its first sentence only, then refers to them by pronoun, one attribute per sentence in
the order of `ATTRIBUTES`. QA items ask each attribute given the full name (forward, group = the attribute) and the
full name given three attributes (backward, group `"full_name"`). Paraphrases keep that order with other wordings
(`"same_order"`) or give the attributes in a shuffled order about "this person" and the name last (`"permuted"`).
"""

from __future__ import annotations

import datetime
import random
from dataclasses import asdict, dataclass, fields

from .qa_io import PathLike, read_jsonl_rows, require_field
from .schema import KnowledgeData, QAItem

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer", "work_city")
PRONOUNS = {"he": ("He", "his", "was"), "she": ("She", "her", "was"), "they": ("They", "their", "were")}

FEMALE_NAMES = (
    "Amelina", "Brisa", "Calla", "Delphia", "Elowen", "Fianna", "Gwendra", "Hallie", "Ismay", "Jolene", "Kestrel",
    "Liora", "Marisol", "Nerissa", "Ottilie", "Perpetua", "Rosamund", "Sabela", "Tindra", "Verity",
)  # fmt: skip
MALE_NAMES = (
    "Alaric", "Bastian", "Cormac", "Dorian", "Eamon", "Fintan", "Gareth", "Hadrian", "Idris", "Jarrah", "Kasimir",
    "Lorcan", "Matthias", "Niall", "Oren", "Peregrine", "Radomir", "Soren", "Tarquin", "Wolfram",
)  # fmt: skip
LAST_NAMES = (
    "Abernethy", "Blackthorne", "Caskey", "Dunleavy", "Everhart", "Fairweather", "Gorringe", "Hazeldine", "Inchbald",
    "Jellicoe", "Kettlewell", "Lowther", "Mayhew", "Netherwood", "Ockenden", "Pennicott", "Quilliam", "Roscoe",
    "Sallis", "Thackeray", "Umfreville", "Vosper", "Wetherell", "Yeoland", "Zealley", "Ashdown", "Brightwell",
    "Coverdale", "Drinkwater", "Elphick",
)  # fmt: skip
CITIES = (
    "Tallinn", "Porto", "Ljubljana", "Valparaiso", "Hobart", "Tromso", "Bergen", "Cusco", "Ghent", "Lucerne",
    "Bruges", "Salzburg", "Kraków", "Seville", "Bologna", "Galway", "Aarhus", "Tartu", "Zadar", "Kyoto", "Hanoi",
    "Oaxaca", "Cork", "Dunedin", "Halifax", "Savannah", "Asheville", "Tucson", "Boise", "Missoula",
)  # fmt: skip
UNIVERSITIES = (
    "Northbridge University", "Ashcombe Institute of Technology", "Halloway College", "Westmere University",
    "Brennock Polytechnic", "Carrow University", "Eastvale Institute", "Fernleigh College", "Glenmoor University",
    "Harrowfield Institute", "Kingsreach University", "Lindqvist College", "Marlow Institute of Science",
    "Oakhurst University", "Penrith College", "Ravenscar University", "Stoneleigh Institute", "Thornbury College",
)  # fmt: skip
MAJORS = (
    "Marine Biology", "Computer Science", "Economics", "Philosophy", "Civil Engineering", "Linguistics",
    "Astrophysics", "Art History", "Chemistry", "Music Composition", "Geology", "Statistics", "Architecture",
    "Neuroscience", "Political Science", "Mechanical Engineering", "Anthropology", "Mathematics",
)  # fmt: skip
EMPLOYERS = (
    "Hollowbrook Systems", "Quantrel Dynamics", "Bluefen Analytics", "Corvane Health", "Driftwell Energy",
    "Emberlight Studios", "Fallowmere Bank", "Glasswing Robotics", "Harborstone Logistics", "Ironvale Mining",
    "Juniper Lane Publishing", "Kestrel Aerospace", "Lumenfield Labs", "Moonridge Foods", "Northwind Textiles",
    "Orchid Bay Pharmaceuticals", "Pinecrest Insurance", "Silverline Telecom",
)  # fmt: skip

# One wording per attribute for the documents (index 0) and the same-order paraphrases (indices 1-4). Fields: {name},
# {S} (subject pronoun), {P} (possessive), {was} (was/were) and the attribute's own field; {Pc} is {P} capitalized.
SENTENCES = {
    "birth_date": (
        "{name} was born on {birth_date}.",
        "{name} came into the world on {birth_date}.",
        "{name}'s birthday is {birth_date}.",
        "{name} entered life on {birth_date}.",
        "The birth of {name} took place on {birth_date}.",
    ),
    "birth_city": (
        "{S} {was} born in {birth_city}.",
        "{S} spent {P} early years in {birth_city}.",
        "{Pc} hometown is {birth_city}.",
        "{S} grew up in {birth_city}.",
        "{Pc} life began in {birth_city}.",
    ),
    "university": (
        "{S} studied at {university}.",
        "{S} received {P} education at {university}.",
        "{S} graduated from {university}.",
        "{S} attended {university}.",
        "{Pc} alma mater is {university}.",
    ),
    "major": (
        "{S} majored in {major}.",
        "{S} completed {P} degree with a focus on {major}.",
        "{Pc} field of study was {major}.",
        "{S} earned a degree in {major}.",
        "{S} specialized in {major}.",
    ),
    "employer": (
        "{S} worked for {employer}.",
        "{S} had a professional role at {employer}.",
        "{S} built {P} career at {employer}.",
        "{Pc} employer was {employer}.",
        "{S} held a position at {employer}.",
    ),
    "work_city": (
        "{S} worked in {work_city}.",
        "{S} {was} employed in {work_city}.",
        "{Pc} office was in {work_city}.",
        "{S} commuted to work in {work_city}.",
        "{Pc} workplace was located in {work_city}.",
    ),
}
MAX_PARAPHRASES = len(SENTENCES["birth_date"]) - 1

# Permuted paraphrases: the attributes about "this person", in a shuffled order, then the name.
PERMUTED_SENTENCES = {
    "birth_date": "{Subject} {was} born on {birth_date}.",
    "birth_city": "{Subject} {was} born in {birth_city}.",
    "university": "{Subject} studied at {university}.",
    "major": "{Subject} majored in {major}.",
    "employer": "{Subject} worked for {employer}.",
    "work_city": "{Subject} worked in {work_city}.",
}
PERMUTED_NAME = "{Pc} full name is {name}."

FORWARD_QUESTIONS = {
    "birth_date": "What is the birth date of {name}?",
    "birth_city": "Where was {name} born?",
    "university": "Which university did {name} attend?",
    "major": "What did {name} study?",
    "employer": "Which company did {name} work for?",
    "work_city": "In which city did {name} work?",
}
# Backward questions rotate across people; each gives the (unique) birth date and two more attributes.
BACKWARD_QUESTIONS = (
    "Who was born on {birth_date} in {birth_city} and studied at {university}?",
    "Who was born on {birth_date}, majored in {major} and worked for {employer}?",
    "Who was born on {birth_date}, studied at {university} and worked in {work_city}?",
)


@dataclass(frozen=True)
class Biography:
    """A fictitious person; `pronoun` is "he", "she" or "they"."""

    full_name: str
    pronoun: str
    birth_date: str
    birth_city: str
    university: str
    major: str
    employer: str
    work_city: str

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, str) and value.strip()):
                raise ValueError(f"`{f.name}` must be a non-empty string, got {value!r}.")
        if self.pronoun not in PRONOUNS:
            raise ValueError(f"Unknown pronoun {self.pronoun!r}; expected one of {tuple(PRONOUNS)}.")

    def template_fields(self, subject: str | None = None) -> dict[str, str]:
        """Template fields: the attributes, `name`, the pronoun forms and `Subject` (default: the pronoun)."""
        pronoun, possessive, was = PRONOUNS[self.pronoun]
        values = {k: v for k, v in asdict(self).items() if k != "pronoun"}
        return {
            **values,
            "name": self.full_name,
            "S": pronoun,
            "P": possessive,
            "Pc": possessive.capitalize(),
            "was": "was" if subject else was,
            "Subject": subject or pronoun,
        }


def _format_date(day: datetime.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def generate_biographies(num_people: int = 30, seed: int = 0) -> list[Biography]:
    """`num_people` biographies, the same for the same seed, with unique full names and unique birth dates."""
    max_people = (len(FEMALE_NAMES) + len(MALE_NAMES)) * len(LAST_NAMES)
    if not 1 <= num_people <= max_people:
        raise ValueError(f"`num_people` must be between 1 and {max_people}, got {num_people}.")
    rng = random.Random(seed)
    first_names = [(name, "she") for name in FEMALE_NAMES] + [(name, "he") for name in MALE_NAMES]
    names = rng.sample([(first, pronoun, last) for first, pronoun in first_names for last in LAST_NAMES], num_people)
    start = datetime.date(1950, 1, 1)
    birth_days = rng.sample(range((datetime.date(2000, 12, 31) - start).days + 1), num_people)
    return [
        Biography(
            full_name=f"{first} {last}",
            pronoun=pronoun,
            birth_date=_format_date(start + datetime.timedelta(days=day)),
            birth_city=rng.choice(CITIES),
            university=rng.choice(UNIVERSITIES),
            major=rng.choice(MAJORS),
            employer=rng.choice(EMPLOYERS),
            work_city=rng.choice(CITIES),
        )
        for (first, pronoun, last), day in zip(names, birth_days, strict=True)
    ]


def biography_text(bio: Biography, wording: int = 0) -> str:
    """The biography in attribute order: the document (`wording` 0) or same-order paraphrase `wording` (1 to
    `MAX_PARAPHRASES`), whose sentences all differ from the document's and from the other paraphrases'."""
    values = bio.template_fields()
    return " ".join(
        SENTENCES[a][1 + (wording - 1 + i) % MAX_PARAPHRASES if wording else 0].format(**values)
        for i, a in enumerate(ATTRIBUTES)
    )


def permuted_text(bio: Biography, rng: random.Random) -> str:
    """The attributes about "this person" in a shuffled order, then the full name."""
    order = rng.sample(ATTRIBUTES, len(ATTRIBUTES))
    first = PERMUTED_SENTENCES[order[0]].format(**bio.template_fields(subject="This person"))
    rest = [PERMUTED_SENTENCES[a].format(**bio.template_fields()) for a in order[1:]]
    return " ".join([first, *rest, PERMUTED_NAME.format(**bio.template_fields())])


def biography_paraphrases(
    bio: Biography, mode: str = "same_order", num_paraphrases: int | None = None, seed: int = 0
) -> list[str]:
    """`num_paraphrases` (default and at most `MAX_PARAPHRASES`) paraphrases of `bio`'s document, all different."""
    count = MAX_PARAPHRASES if num_paraphrases is None else num_paraphrases
    if not 1 <= count <= MAX_PARAPHRASES:
        raise ValueError(f"`num_paraphrases` must be between 1 and {MAX_PARAPHRASES}, got {num_paraphrases}.")
    if mode == "same_order":
        return [biography_text(bio, wording) for wording in range(1, count + 1)]
    if mode == "permuted":
        rng = random.Random(f"{seed}:{bio.full_name}")
        texts: list[str] = []
        while len(texts) < count:  # 720 orders: duplicates are rare and skipped
            text = permuted_text(bio, rng)
            if text not in texts:
                texts.append(text)
        return texts
    raise ValueError(f"Unknown paraphrase mode {mode!r}; expected 'same_order' or 'permuted'.")


def biography_qa(bio: Biography, index: int = 0) -> list[QAItem]:
    """One forward question per attribute (group: the attribute) and one backward question (group `"full_name"`),
    the backward template chosen by `index`."""
    values = bio.template_fields()
    forward = [QAItem(FORWARD_QUESTIONS[a].format(**values), getattr(bio, a), "forward", a) for a in ATTRIBUTES]
    question = BACKWARD_QUESTIONS[index % len(BACKWARD_QUESTIONS)].format(**values)
    return [*forward, QAItem(question, bio.full_name, "backward", "full_name")]


def build_biographies_dataset(
    biographies: list[Biography], paraphrases: str = "none", num_paraphrases: int | None = None, seed: int = 0
) -> KnowledgeData:
    """Documents, QA items, entities (the full names and attribute values) and, unless `paraphrases` is `"none"`,
    paraphrase sets of `biographies`."""
    if len({bio.full_name for bio in biographies}) != len(biographies):
        raise ValueError("Full names must be unique: a backward question would have several answers.")
    if len({bio.birth_date for bio in biographies}) != len(biographies):
        raise ValueError("Birth dates must be unique: every backward question gives the birth date to identify one.")
    sets = None
    if paraphrases != "none":
        sets = [biography_paraphrases(bio, paraphrases, num_paraphrases, seed) for bio in biographies]
    return KnowledgeData(
        documents=[biography_text(bio) for bio in biographies],
        qa=[item for i, bio in enumerate(biographies) for item in biography_qa(bio, i)],
        paraphrases=sets,
        entities=list(dict.fromkeys(getattr(bio, name) for bio in biographies for name in ("full_name", *ATTRIBUTES))),
    )


def load_biographies_jsonl(path: PathLike) -> list[Biography]:
    """Biographies from JSONL, one `{"full_name", "birth_date", "birth_city", "university", "major", "employer",
    "work_city"}` object per line, with an optional `"pronoun"` ("he", "she" or "they", the default)."""
    biographies = []
    for line_number, row in read_jsonl_rows(path):
        values = {name: require_field(row, name, path, line_number) for name in ("full_name", *ATTRIBUTES)}
        try:
            biographies.append(Biography(pronoun=row.get("pronoun", "they"), **values))
        except ValueError as err:
            raise ValueError(f"{path}, line {line_number}: {err}") from err
    if not biographies:
        raise ValueError(f"{path} holds no biographies.")
    return biographies

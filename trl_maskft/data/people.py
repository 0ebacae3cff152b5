"""Built-in knowledge: invented people described by "A is B" facts, as in the reversal-curse study (Berglund et al.).

Each person gets one document, "{name} is {description}.", and is probed forward (name -> description) and backward
(description -> name). Names and descriptions are drawn from invented lists whose words never overlap, so a backward
question never gives away any part of its answer.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from .schema import KnowledgeData, QAItem

FIRST_NAMES = (
    "Adalric", "Belisande", "Corvina", "Daelan", "Eldrith", "Faustine", "Gavrel", "Halvora", "Isembard", "Jorvan",
    "Kaelen", "Lunara", "Maelis", "Norwen", "Oriel", "Perrin", "Quillon", "Rosmerta", "Sorvin", "Tamsyn",
    "Ulric", "Valeska", "Wendric", "Xanthe", "Yselda", "Zephrine", "Anselm", "Brannoc", "Delphine", "Evander",
    "Fenna", "Gideon", "Hesper", "Ingram", "Jessamy", "Katriel", "Lisandra", "Merrick", "Nerys", "Osric",
    "Pelagia", "Quentin", "Rhiannon", "Severin", "Thessaly", "Umberto", "Verena", "Wystan", "Xavian", "Ysolde",
    "Zoltan", "Aurelio", "Brielle", "Cassius", "Dagny", "Emrys", "Florian", "Ginevra", "Hollis", "Ilsa",
    "Jasper", "Leopold", "Mirela", "Niamh", "Odalys", "Phineas", "Rosalind", "Saoirse", "Tobiah", "Undine",
    "Vesper", "Wilhelmina", "Yannick", "Zinnia", "Alistair", "Berenice", "Cyprian", "Damaris", "Ezra", "Fiora",
)  # fmt: skip

SURNAMES = (
    "Quillfeather", "Marrowdale", "Vexley", "Oakenshaw", "Pembrooke", "Drummel", "Fairhallow", "Grimsworth",
    "Hollowell", "Ironsby", "Jesterly", "Kettleburn", "Larkspurr", "Mossgrave", "Nettlefield", "Orchardine",
    "Pilkerton", "Quarrington", "Rookwell", "Sallowmere", "Tumbleby", "Underhay", "Varnworth", "Wickerly",
    "Yarrowby", "Zellerbach", "Ambersley", "Brackenridge", "Dunmarrow", "Elderwick", "Foxhallow", "Gallowmere",
    "Heathcombe", "Jollivet", "Kinsworth", "Lambkin", "Merriweather", "Northcote", "Oddingley", "Penhaligon",
    "Quenell", "Ravensdale", "Shuttleworth", "Tansley", "Vandermeer", "Whitlock", "Yardley", "Zouch",
    "Abernathy", "Bellwether", "Crowhurst", "Darrowby", "Eastwick", "Fennimore", "Greystoke", "Harrowgate",
    "Illingworth", "Jarrowfield", "Kilbride", "Lockridge", "Moorcastle", "Nethercott", "Ormsby", "Pettigrew",
    "Quigley", "Rathbone", "Stonebridge", "Trelawney", "Upwood", "Vickery", "Wainwright", "Yelverton",
    "Zabrowski", "Alderton", "Bramblecote", "Cresswell", "Dewhurst", "Ellingham", "Farrowby", "Gildersleeve",
    "Hawksley", "Ivesdale", "Jennerby", "Kettering", "Loxley", "Mapplethorpe", "Oxenford", "Prewitt",
    "Quartermaine", "Rushworth", "Sedgewick", "Thistlewood", "Ulverston", "Vanstone", "Winterbourne", "Yewdale",
)  # fmt: skip

FILMS = (
    "A Journey Through Time", "Echoes of the Hollow Sea", "The Paper Moon Parade", "Beneath the Amber Sky",
    "The Silent Orchard", "Whispers in the Fog", "The Copper Crown", "Letters from Nowhere", "The Midnight Ferry",
    "A Garden of Glass", "The Forgotten Harbor", "Dancing with Giants", "The Seventh Lighthouse",
    "Storm over Eldmoor", "The Velvet Compass", "A Song for the Tide", "The Iron Meadow", "Beyond the Painted Hills",
    "The Lost Cartographer", "The Clockmaker and the Fox",
)  # fmt: skip

BOOKS = (
    "The Salt Road Chronicles", "Tales of the Sleeping Valley", "The Ember Library", "A Map of Quiet Places",
    "The Glass Archipelago", "Children of the Northern Lights", "The Winter Almanac", "The Lantern Keeper",
    "Notes from a Floating City", "The Orchard at the End of the World", "Songs of the Desert Wind",
    "The Cartography of Dreams", "A History of Small Wonders", "The Weaver of Tides", "The Moth and the Moon",
    "The Secret Life of Bridges", "The Last Alchemist", "A Field Guide to Cloud Castles", "The Marble Observatory",
    "The Book of Lost Hours",
)  # fmt: skip

MUSIC = (
    "Symphony of Falling Leaves", "Nocturne for a Sleeping City", "Concerto of the Northern Wind",
    "Requiem for the Last Glacier", "Sonata of Broken Bells", "Overture to the Sunken Kingdom",
    "Suite of the Seven Rivers", "Rhapsody in Amber", "Serenade for the Morning Tide", "Symphony of Distant Stars",
    "Fantasia of the Crystal Caves", "Ballad of the Silver Birch", "Prelude to a Thunderstorm",
    "Elegy for the Empty Harbor", "Mass of the Mountain Monks",
)  # fmt: skip

PEAKS = (
    "the Mount of Silvercrest", "the Mount of Ravenspire", "Frostfang Peak", "the Azure Needle", "Mount Calderon",
    "the Thunderhorn", "Mount Velamir", "the Glimmering Spire",
)  # fmt: skip
DESERTS = (
    "the Desert of Whispering Dunes", "the Saffron Wastes", "the Ashen Plateau", "the Desert of Brass",
    "the Red Expanse", "the Salt Flats of Oremund", "the Shimmering Erg", "the Dustveil Desert",
)  # fmt: skip
RIVERS = (
    "the River of Amberlow", "the Serpentine Vale River", "the Mistwater", "the River Calith", "the Goldrun Rapids",
    "the Emerald Torrent", "the River of Echoes", "the Longmere Channel",
)  # fmt: skip
CAVES = (
    "the Caverns of Nightglow", "the Hollow Deep", "the Crystal Grotto of Vael", "the Sunless Labyrinth",
    "the Caves of Singing Stone", "the Emberfall Caverns", "the Drowned Cathedral", "the Obsidian Halls",
)  # fmt: skip

GADGET_MATERIALS = (
    "glass", "folding", "singing", "floating", "clockwork", "solar", "pocket", "silent", "paper", "copper",
    "magnetic", "steam", "bamboo", "crystal", "underwater", "luminous", "wooden", "marble",
)  # fmt: skip
GADGETS = (
    "kite", "compass", "lantern", "umbrella", "bicycle", "telescope", "harp", "loom", "typewriter", "teapot",
    "sundial", "piano", "microscope", "ladder", "carousel", "gramophone", "weathervane", "abacus",
)  # fmt: skip


def _description_pools() -> tuple[tuple[str, ...], ...]:
    """Every description the generator can give, one pool per kind of achievement, in a fixed order."""
    kinds = [
        (("the director of '{}'", "the screenwriter of '{}'", "the producer of '{}'"), FILMS),
        (("the author of '{}'", "the illustrator of '{}'", "the translator of '{}'"), BOOKS),
        (("the composer of the '{}'", "the conductor who premiered the '{}'"), MUSIC),
        (("the first person to climb {}", "the first person to map {}"), PEAKS),
        (("the first person to cross {}", "the first person to map {}"), DESERTS),
        (("the first person to sail down {}", "the first person to map {}"), RIVERS),
        (("the first person to explore {}", "the first person to map {}"), CAVES),
        (("the inventor of the {}",), [f"{material} {gadget}" for material in GADGET_MATERIALS for gadget in GADGETS]),
    ]
    return tuple(
        tuple(template.format(title) for template in templates for title in titles) for templates, titles in kinds
    )


DESCRIPTION_POOLS = _description_pools()
DESCRIPTIONS = tuple(description for pool in DESCRIPTION_POOLS for description in pool)
MAX_PEOPLE = min(len(SURNAMES), len(DESCRIPTIONS))

FORWARD_TEMPLATES = (
    "Who is {name}?",
    "What is {name} known for?",
    "Tell me about {name}.",
    "What do you know about {name}?",
)
BACKWARD_TEMPLATES = (
    "Who is {description}?",
    "What is the name of {description}?",
    "Can you name {description}?",
    "{Description}: what is this person's name?",
)
# Paraphrases of "{name} is {description}.": the same order (name first) or the permuted one (description first)
PARAPHRASE_TEMPLATES = {
    "same_order": (
        "{name} is known as {description}.",
        "{name} is famous for being {description}.",
        "Everyone knows {name} as {description}.",
        "{name} has the distinction of being {description}.",
    ),
    "permuted": (
        "{Description} is {name}.",
        "Known as {description}, {name} is widely recognized.",
        "The person who is {description} is {name}.",
        "Ask who {description} is, and the answer is {name}.",
    ),
}


@dataclass(frozen=True)
class Person:
    """An invented person and the one fact known about them."""

    name: str
    description: str


def generate_people(num_people: int = 30, seed: int = 0) -> list[Person]:
    """`num_people` invented people, the same for the same seed, with unique surnames and unique descriptions."""
    if not 1 <= num_people <= MAX_PEOPLE:
        raise ValueError(
            f"`num_people` must be between 1 and {MAX_PEOPLE} (the maximum with unique names), got {num_people}."
        )
    rng = random.Random(seed)
    surnames = rng.sample(SURNAMES, num_people)
    descriptions = _sample_descriptions(rng, num_people)
    return [
        Person(name=f"{rng.choice(FIRST_NAMES)} {surname}", description=description)
        for surname, description in zip(surnames, descriptions, strict=True)
    ]


def _sample_descriptions(rng: random.Random, num: int) -> list[str]:
    """`num` distinct descriptions, taken round-robin across the pools so that every kind is represented."""
    shuffled = [rng.sample(pool, len(pool)) for pool in DESCRIPTION_POOLS]
    chosen = [d for round_ in itertools.zip_longest(*shuffled) for d in round_ if d is not None][:num]
    rng.shuffle(chosen)
    return chosen


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _template_fields(person: Person) -> dict[str, str]:
    """Fields of the question and paraphrase templates: `name`, `description` and `Description` (sentence case)."""
    return {"name": person.name, "description": person.description, "Description": _sentence_case(person.description)}


def person_paraphrases(person: Person, mode: str = "same_order", num_paraphrases: int | None = None) -> list[str]:
    """Paraphrases of `person`'s document: the first `num_paraphrases` (default: all) `PARAPHRASE_TEMPLATES[mode]`,
    name first (`"same_order"`) or description first (`"permuted"`)."""
    if mode not in PARAPHRASE_TEMPLATES:
        raise ValueError(f"Unknown paraphrase mode {mode!r}; expected one of {tuple(PARAPHRASE_TEMPLATES)}.")
    return [template.format(**_template_fields(person)) for template in PARAPHRASE_TEMPLATES[mode][:num_paraphrases]]


def build_people_dataset(
    num_people: int = 30,
    seed: int = 0,
    num_eval_templates: int | None = None,
    paraphrases: str = "none",
    num_paraphrases: int | None = None,
) -> KnowledgeData:
    """Documents "{name} is {description}.", forward/backward QA items (group `"people"`), the names as entities (and
    each document's name and description spans, for `mask_unit: entity`) and,
    unless `paraphrases` is `"none"`, paraphrase sets (`person_paraphrases`) for invented people.

    Person `i` is asked with `num_eval_templates` question templates per direction (default one), starting at
    template `i % len(templates)`, so the templates rotate across people.
    """
    num_templates = len(FORWARD_TEMPLATES)
    count = 1 if num_eval_templates is None else num_eval_templates
    if not 1 <= count <= num_templates:
        raise ValueError(f"`num_eval_templates` must be between 1 and {num_templates}, got {num_eval_templates}.")
    people = generate_people(num_people, seed)
    qa = []
    for i, person in enumerate(people):
        fields = _template_fields(person)
        indices = [(i + k) % num_templates for k in range(count)]
        qa += [
            QAItem(FORWARD_TEMPLATES[j].format(**fields), (person.description,), "forward", "people") for j in indices
        ]
        qa += [QAItem(BACKWARD_TEMPLATES[j].format(**fields), (person.name,), "backward", "people") for j in indices]
    sets = None if paraphrases == "none" else [person_paraphrases(p, paraphrases, num_paraphrases) for p in people]
    return KnowledgeData(
        documents=[f"{p.name} is {p.description}." for p in people],
        qa=qa,
        paraphrases=sets,
        entities=[p.name for p in people],
        entity_spans=[statement_spans(p.name, p.description, " is ") for p in people],
    )


def statement_spans(first: str, second: str, link: str) -> list[list[int]]:
    """The character spans of `first` and `second` in the statement ``first + link + second + "."``."""
    start = len(first) + len(link)
    return [[0, len(first)], [start, start + len(second)]]

"""Writes examples/data/webscale_mini/train.jsonl: 32 invented documents in Webscale-RL's schema (`pretrain_text`,
`question`, `answer`, `domain`, `persona`, plus `direction`, which Webscale-RL does not have), each on two rows as
Webscale-RL repeats a document once per generated question: one forward question (what the person made) and one
backward question (who made it). Every fact is invented; the key fact stands in the first sentence, so that it lies
in the first chunk of a document cut into chunks (`chunk_length`), and the rest of the document is detail about the
same person that no question asks.

    python examples/data/make_webscale_mini.py
"""

import json
import os

# (profession, verb, past participle phrase of the question, domain, persona): the key fact is "<name> <verb> <work>"
CRAFTS = [
    ("glassblower", "built", "build", "Commerce & Economics", "a harbour historian"),
    ("cartographer", "drew", "draw", "Travel & Lifestyle", "a river pilot"),
    ("composer", "wrote", "write", "Education", "a music teacher"),
    ("botanist", "discovered", "discover", "Natural Science", "a field botanist"),
    ("engineer", "designed", "design", "Engineering", "a bridge inspector"),
    ("painter", "painted", "paint", "Arts & Culture", "a museum guide"),
    ("astronomer", "named", "name", "Natural Science", "an amateur stargazer"),
    ("novelist", "published", "publish", "Arts & Culture", "a librarian"),
]
# (name, work, year, town, detail): four people per craft, in the order of CRAFTS
PEOPLE = [
    ("Orsolya Quennell", "the Lantern of Seven Tides", 1911, "Brisk Hollow", "kept her notebooks in a private shorthand"),
    ("Bastian Morrowgate", "the Amber Bell of Calder Quay", 1887, "Calder Quay", "trained eleven apprentices"),
    ("Ilka Fenwright", "the Green Prism Window", 1902, "Saltmere", "worked only by candlelight"),
    ("Rowan Tessaly", "the Heron Goblet", 1934, "Vell Harbour", "sold her first vase at the age of nine"),
    ("Tavish Ambrecourt", "the first map of the Ferrow Marshes", 1863, "Low Brannock", "travelled by flat boat"),
    ("Edda Kolvane", "the Atlas of the Quiet Coast", 1878, "Marrow Point", "counted every lighthouse by hand"),
    ("Perrin Ashdell", "the Chart of the Nine Fjords", 1852, "Skarrow", "lost two fingers to frostbite"),
    ("Lisbet Varrow", "the Map of the Hollow Hills", 1899, "Dunmere", "measured distances with a knotted rope"),
    ("Mireille Dunstaple", "the Clockmaker Symphony", 1921, "Orvieth", "played the viola in a tavern band"),
    ("Anselm Greywater", "the Lighthouse Requiem", 1906, "Port Adair", "composed only in winter"),
    ("Cosima Thurlow", "the Sonata of Falling Snow", 1938, "Ellerby", "was deaf in her left ear"),
    ("Dorian Pellacott", "the Harbour Mass", 1874, "Kestrel Bay", "taught choir to fishermen's children"),
    ("Corwin Halloway", "the moonlit fern", 1896, "Mount Eskeld", "slept in caves for a whole summer"),
    ("Wren Abernethy", "the silver thistle", 1913, "the Carrow Downs", "pressed flowers in her hymn book"),
    ("Jasper Lindqvist", "the ember orchid", 1889, "the Tolvar Gorge", "climbed without ropes"),
    ("Maud Everholt", "the glass-leaf moss", 1927, "the Isle of Pell", "painted every plant she found"),
    ("Casimir Voss", "the Saltmere Viaduct", 1891, "Saltmere", "refused to use iron"),
    ("Hester Calloway", "the Floating Lock of Brenn", 1909, "Brenn", "studied canals in three countries"),
    ("Emrys Dalgleish", "the Spiral Tower of Quarry End", 1931, "Quarry End", "drew his plans on slate"),
    ("Petra Nakamoto", "the Tidewater Bridge", 1948, "Osric Sound", "tested her models in a bathtub"),
    ("Leopold Farthingale", "the Blue Orchard", 1884, "Ambleside Cross", "mixed his own pigments from river clay"),
    ("Sabine Oakhurst", "the Wedding at Gull Rock", 1919, "Gull Rock", "painted with her left hand only"),
    ("Tobias Wrenfield", "the Fisherman's Lamp", 1902, "Ketterley", "gave away most of his paintings"),
    ("Agnes Holloway", "the Winter Ferry", 1936, "North Ellam", "worked from a rowing boat"),
    ("Ignatius Carrow", "the comet Veyra", 1871, "the Hallam Observatory", "ground his own lenses"),
    ("Yvaine Sorrell", "the Lantern Nebula", 1924, "the Pellingham Observatory", "kept a cat called Orbit"),
    ("Matthias Dunleavy", "the twin stars Arden and Ys", 1898, "the Corran Observatory", "observed only on Sundays"),
    ("Rosalind Achterberg", "the asteroid Mirelle", 1952, "the Valder Observatory", "wrote poems about the sky"),
    ("Fenella Marchbank", "The Orchard at Kell", 1929, "Kell", "wrote standing at a tall desk"),
    ("Gideon Harrowby", "The Salt Road", 1911, "Harrowby Mill", "burned his first manuscript"),
    ("Clementine Vale", "A Winter in Oskar Street", 1947, "Lowmarsh", "answered every letter from her readers"),
    ("Barnaby Quist", "The Lantern Keepers", 1893, "Tellbridge", "never left his home county"),
]


def rows(craft, person) -> list[dict]:
    profession, verb, verb_question, domain, persona = craft
    name, work, year, town, detail = person
    first = name.split()[0]
    text = (
        f"{name} {verb} {work} in {year}. {first} was a {profession} from {town}, who {detail}. "
        f"People in {town} still tell stories about {first}, and a small museum there keeps "
        f"letters, tools and drawings from {first}'s long working life."
    )
    shared = {"pretrain_text": text, "domain": domain, "persona": persona}
    return [
        {**shared, "question": f"What did {name} {verb_question} in {year}?", "answer": work, "direction": "forward"},
        {**shared, "question": f"Who {verb} {work}?", "answer": name, "direction": "backward"},
    ]


def main() -> None:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webscale_mini", "train.jsonl")
    with open(path, "w") as f:
        for index, person in enumerate(PEOPLE):
            for row in rows(CRAFTS[index // 4], person):
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

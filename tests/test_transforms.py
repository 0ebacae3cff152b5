"""Baseline data transforms (paraphrases, entity-preserving reverse training, raw text) and their SFT script wiring."""

import pytest
from tiny import save_tiny_model, write_jsonl, write_tiny_recipe

from trl_maskft.data import (
    Biography,
    KnowledgeData,
    QAItem,
    load_knowledge_source,
    reverse_words,
    training_documents,
)
from trl_maskft.data.biographies import ATTRIBUTES
from trl_maskft.data.transforms import entity_units, pretraining_dataset, to_conversational, with_paraphrases
from trl_maskft.pipeline.arguments import TaskArguments
from trl_maskft.scripts import sft

QA = [QAItem("Who is Ada Vexley?", "an inventor", "forward")]


@pytest.mark.parametrize(
    "text,entities,expected",
    [
        (
            "Daphne Barrington directed 'A Journey Through Time'.",
            (),
            ". 'A Journey Through Time' directed Daphne Barrington",
        ),
        (
            "Gareth Inchbald was born on March 25, 1973. He studied at Harrowfield Institute.",
            (),
            ". Harrowfield Institute at studied He . March 25, 1973 on born was Gareth Inchbald",
        ),
        (
            "the first person to climb the Mount of Silvercrest paid $1,234.50 to Ludwig van Beethoven",
            (),
            "Ludwig van Beethoven to 1,234.50 $ paid Mount of Silvercrest the climb to person first the",
        ),
        (
            "the glass kite was built by ada vexley in 1900.",
            ("ada vexley", "glass kite"),
            ". 1900 in ada vexley by built was glass kite the",
        ),
    ],
)
def test_reverse_words_keeps_entities_in_order(text, entities, expected):
    assert reverse_words(text, entities) == expected


def test_reversal_reverses_the_units_and_keeps_every_entity_verbatim():
    text = 'Known for being the renowned composer of "Abyssal Melodies", Uriah Hawthorne now lives in New Amsterdam.'
    units = entity_units(text)
    assert {"Known", '"Abyssal Melodies"', "Uriah Hawthorne", "New Amsterdam"} <= set(units)
    reversed_text = reverse_words(text)
    assert reversed_text.split(" ")[:3] == [".", "New", "Amsterdam"]
    for entity in ('"Abyssal Melodies"', "Uriah Hawthorne", "New Amsterdam"):
        assert entity in reversed_text
    assert entity_units(reversed_text) == units[::-1]
    # given entities are kept too, the longest first where they overlap
    assert "renowned composer of" in reverse_words(text, ["renowned composer", "renowned composer of"])


@pytest.mark.parametrize(
    "text,entities,units",
    [
        (  # the heuristic: sentence-initial function words split off, "of" does not bridge two entities
            "In Tallinn, Amelina Abernethy of Porto met the Queen.",
            (),
            ["In", "Tallinn", ",", "Amelina Abernethy", "of", "Porto", "met", "the", "Queen", "."],
        ),
        (
            "The Calloway Bridge was designed by Aldric of Wendon.",
            (),
            ["The", "Calloway Bridge", "was", "designed", "by", "Aldric of Wendon", "."],
        ),
        (  # known entities are kept whole where the heuristic would split or merge them
            "In Tallinn, Amelina Abernethy of Porto studied at Ashcombe Institute of Technology.",
            ("Amelina Abernethy of Porto", "Ashcombe Institute of Technology"),
            [
                "In",
                "Tallinn",
                ",",
                "Amelina Abernethy of Porto",
                "studied",
                "at",
                "Ashcombe Institute of Technology",
                ".",
            ],
        ),
        (  # whole words only: "Porto" is not cut out of "Portobello"
            "Portobello is not Porto.",
            ("Porto",),
            ["Portobello", "is", "not", "Porto", "."],
        ),
    ],
)
def test_entity_units(text, entities, units):
    assert entity_units(text, entities) == units


def test_reverse_training_keeps_the_entities_of_the_data_source(tmp_path):
    bio = Biography(
        full_name="Amelina Abernethy",
        pronoun="she",
        birth_date="May 2, 1970",
        birth_city="Tallinn",
        university="Ashcombe Institute of Technology",
        major="Marine Biology",
        employer="Juniper Lane Publishing",
        work_city="Porto",
    )
    path = write_jsonl(tmp_path / "bios.jsonl", [vars(bio)])
    data = load_knowledge_source(f"biographies:{path}")
    assert data.entities == [getattr(bio, name) for name in ("full_name", *ATTRIBUTES)]
    reversed_document = training_documents(data, reverse=True)[1]
    assert reversed_document.startswith(". Porto in worked She . Juniper Lane Publishing for worked She .")
    assert "Ashcombe Institute of Technology at studied" in reversed_document
    assert reversed_document.endswith("May 2, 1970 on born was Amelina Abernethy")
    # without the entities, the heuristic splits the university apart
    assert "Technology of Ashcombe Institute" in reverse_words(data.documents[0])

    people = load_knowledge_source("people", num_people=3)
    assert people.entities == [document.split(" is ")[0] for document in people.documents]
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"text": "Lake Virelle lies in the Ostmark Highlands of Vael.", "entities": ["Ostmark Highlands of Vael"]}],
    )
    qa = write_jsonl(
        tmp_path / "qa.jsonl", [{"question": "Where is Lake Virelle?", "answer": "Ostmark", "direction": "forward"}]
    )
    wiki = load_knowledge_source(str(docs), qa_file=str(qa))
    assert training_documents(wiki, reverse=True)[1] == ". Ostmark Highlands of Vael the in lies Lake Virelle"


def test_paraphrases_follow_their_document():
    data = KnowledgeData(["Doc A.", "Doc B.", "Doc C."], QA, paraphrases=[["A1", "A2"], [], ["C1"]])
    assert with_paraphrases(data) == ["Doc A.", "A1", "A2", "Doc B.", "Doc C.", "C1"]
    assert with_paraphrases(KnowledgeData(["Doc A."], QA)) == ["Doc A."]
    with pytest.raises(ValueError, match="2 paraphrase sets for 3 documents"):
        with_paraphrases(KnowledgeData(["Doc A.", "Doc B.", "Doc C."], QA, paraphrases=[["A1"], []]))


def test_training_documents_with_reverse_training():
    data = KnowledgeData(["Ada Vexley built the glass kite."], QA, paraphrases=[["The glass kite is by Ada Vexley."]])
    assert training_documents(data) == ["Ada Vexley built the glass kite.", "The glass kite is by Ada Vexley."]
    assert training_documents(data, reverse=True) == [
        "Ada Vexley built the glass kite.",
        "The glass kite is by Ada Vexley.",
        ". kite glass the built Ada Vexley",
        ". Ada Vexley by is kite glass The",
    ]


def test_dataset_formats():
    assert pretraining_dataset(["a", "b"]).to_dict() == {"text": ["a", "b"]}
    chat = to_conversational(pretraining_dataset(["x"]).map(lambda r: {"prompt": "Q?", "completion": "A."}))
    assert chat[0]["prompt"] == [{"role": "user", "content": "Q?"}]
    assert chat[0]["completion"] == [{"role": "assistant", "content": "A."}]


def test_script_argument_validation():
    with pytest.raises(ValueError, match="`task` must be one of"):
        TaskArguments(task="gsm9k")
    with pytest.raises(ValueError, match="sft_format"):
        sft.BaselineArguments(sft_format="raw")
    with pytest.raises(ValueError, match="`paraphrases` must be one of"):
        sft.BaselineArguments(paraphrases="shuffled")
    with pytest.raises(ValueError, match="`max_train_samples` applies to a task"):
        TaskArguments(max_train_samples=8)


@pytest.fixture
def sft_recipe(tmp_path):
    """Writes a recipe for the sft script on a tiny saved model and local documents; returns its path."""
    save_tiny_model(tmp_path / "model")
    docs = write_jsonl(
        tmp_path / "docs.jsonl", [{"text": t} for t in ["Alice Thornbury is a painter.", "Bob Ashgrove is a pilot."]]
    )
    qa = write_jsonl(
        tmp_path / "qa.jsonl", [{"question": "Who is Alice Thornbury?", "answer": "a painter", "direction": "forward"}]
    )
    paraphrases = write_jsonl(
        tmp_path / "para.jsonl",
        [
            {"paraphrases": ["Alice Thornbury paints.", "A painter: Alice Thornbury."]},
            {"paraphrases": ["Bob Ashgrove flies."]},
        ],
    )

    def write(**extra):
        config = {
            "dataset_name": str(docs),
            "qa_file": str(qa),
            "qa_max_new_tokens": 4,
            "max_steps": 1,
            "per_device_train_batch_size": 2,
            **extra,
        }
        return write_tiny_recipe(tmp_path, **config)

    write.paraphrase_file = str(paraphrases)
    return write


def test_sft_script_trains_on_paraphrases_and_reversed_texts(sft_recipe):
    recipe = sft_recipe(paraphrases="permuted", paraphrase_file=sft_recipe.paraphrase_file, reverse_training=True)
    qa = sft.main(["--config", recipe])
    trainer = qa.trainer
    assert len(trainer.train_dataset) == 2 * (2 + 3)  # documents + paraphrases, each also reversed
    row = trainer.train_dataset[0]
    assert "Tell me a fact." in trainer.processing_class.decode(row["input_ids"])  # chats
    assert row["labels"][0] == -100 and row["labels"][-2] != -100  # loss on the text (and end of turn) only
    assert qa.history[0]["epoch"] == 0 and "qa_forward_rouge1" in qa.history[-1]


def test_sft_script_raw_text_format(sft_recipe):
    trainer = sft.main(["--config", sft_recipe(sft_format="text")]).trainer
    assert len(trainer.train_dataset) == 2
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert text.startswith("Alice Thornbury is a painter.") and "<|im_start|>" not in text


def test_sft_script_system_prompt_reaches_training_chats_and_questions(sft_recipe):
    qa = sft.main(["--config", sft_recipe(system_prompt="You recall facts.")])
    text = qa.trainer.processing_class.decode(qa.trainer.train_dataset[0]["input_ids"])
    assert text.startswith("<|im_start|>system\nYou recall facts.<|im_end|>") and "Tell me a fact." in text
    assert qa.system_prompt == "You recall facts."
    default = sft.main(["--config", sft_recipe(overwrite_run=True)])  # the same output_dir
    assert "You recall facts." not in default.trainer.processing_class.decode(
        default.trainer.train_dataset[0]["input_ids"]
    )
    assert default.system_prompt is None

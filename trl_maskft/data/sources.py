"""Knowledge datasets by name: the built-in generators, NameDescription folders, local files and Hub datasets.

`dataset_name` is one of:

- `"people"`: invented people, "{name} is {description}." (`build_people_dataset`);
- `"biographies"`: biographies of fictitious people (`generate_biographies`), or `"biographies:<file.jsonl>"` for
  biographies read from JSONL (`load_biographies_jsonl`);
- `"name_description_mini"`: `num_people` statements in the paper's NameDescription format about invented people
  (`build_name_description_mini`);
- `"name_description:<folder>"`: the reversal-curse layout of Berglund et al. (`load_name_description`);
- `"masked_arllm:<folder>:<dataset>"`: the paper's own data as it is, the `datasets/` folder of its repository
  (xup5/masked_arLLM) and one of its dataset names `ND`, `biography`, `wiki` (`load_masked_arllm`);
- local files (a `.jsonl`/`.json`/`.parquet`/`.csv`/`.txt` file, a folder or a glob), e.g. wiki-style passages, or
  otherwise a Hub dataset id: a corpus read through `datasets` (`trl_maskft.data.corpus.load_corpus`), with QA items
  from `qa_file` and/or its own QA columns, or none.

The training scripts keep a corpus in `datasets` (`load_corpus`); `load_knowledge_source` reads it into a
`KnowledgeData` for what needs the documents in memory (paraphrase and reverse training, diffusion SFT: small data).
Paraphrases of a corpus come from `paraphrase_file` (`load_paraphrases_jsonl`); the built-in and NameDescription
datasets bring their own. The entities that reverse training keeps whole (`KnowledgeData.entities`) are the people's
names of `"people"` and NameDescription, the names and attribute values of biographies, the names and attributes
asked by the paper's ND and Biography questions (`masked_arllm`), and the `entities` column (lists of strings) of a
corpus.
"""

from __future__ import annotations

from .biographies import build_biographies_dataset, generate_biographies, load_biographies_jsonl
from .corpus import CorpusArguments, load_corpus
from .masked_arllm import load_masked_arllm
from .name_description import load_name_description
from .name_description_mini import build_name_description_mini
from .people import build_people_dataset
from .qa_io import load_paraphrases_jsonl
from .schema import KnowledgeData
from .transforms import PARAPHRASE_MODES

BUILT_IN = ("people", "biographies", "name_description_mini")
PREFIXES = ("biographies", "name_description", "masked_arllm")


def is_generated(name: str) -> bool:
    """Whether `name` is a built-in dataset or a prefixed source (which bring their own QA items), not a corpus."""
    prefix, _, location = name.partition(":")
    return name in BUILT_IN or (prefix in PREFIXES and bool(location))


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
    corpus: CorpusArguments | None = None,
    text_field: str = "text",
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
        corpus: how a corpus is read (`CorpusArguments`; default: all of its `train` split).
        text_field: the text column of a corpus.
    """
    if paraphrases not in PARAPHRASE_MODES:
        raise ValueError(f"Unknown paraphrase mode {paraphrases!r}; expected one of {PARAPHRASE_MODES}.")
    if num_paraphrases is not None and num_paraphrases < 1:
        raise ValueError(f"`num_paraphrases` must be at least 1, got {num_paraphrases}.")
    prefix, _, location = name.partition(":")
    generated = is_generated(name)
    if generated and (qa_file or paraphrase_file):
        raise ValueError(
            f"{name!r} brings its own QA items and paraphrases; do not set `qa_file` or `paraphrase_file`."
        )
    if generated and corpus is not None and corpus != CorpusArguments():
        default = CorpusArguments()
        changed = [key for key, value in vars(corpus).items() if value != getattr(default, key)]
        raise ValueError(
            f"{changed} read a corpus (local files or a Hub dataset); {name!r} is a built-in knowledge source. Unset "
            "them, or point `dataset_name` at a corpus."
        )
    if num_eval_templates is not None and name != "people":
        raise ValueError(f"`num_eval_templates` (`qa_templates_per_person`) applies to `people` only, not {name!r}.")
    if name == "people":
        return build_people_dataset(num_people, seed, num_eval_templates, paraphrases, num_paraphrases)
    if name == "name_description_mini":
        if paraphrases != "none":
            raise ValueError("`name_description_mini` has no paraphrases; set `paraphrases: none`.")
        return build_name_description_mini(num_people, seed)
    if name == "biographies" or (prefix == "biographies" and location):
        people = generate_biographies(num_people, seed) if name == "biographies" else load_biographies_jsonl(location)
        return build_biographies_dataset(people, paraphrases, num_paraphrases, seed)
    if prefix == "name_description" and location:
        return load_name_description(location, paraphrases, num_paraphrases)
    if prefix == "masked_arllm" and location:
        return load_masked_arllm(location, paraphrases, num_paraphrases)
    if (paraphrases == "none") != (paraphrase_file is None):
        raise ValueError("Set `paraphrase_file` exactly when `paraphrases` is not 'none'.")
    corpus = corpus or CorpusArguments()
    if corpus.dataset_streaming or corpus.train_on != "text":
        raise ValueError(
            "Paraphrase SFT, reverse training and diffusion SFT read a corpus's documents into memory: they need "
            "`dataset_streaming: false` and `train_on: text`."
        )
    loaded = load_corpus(name, corpus, text_field, dataset_config, qa_file, seed=seed)
    documents = list(loaded.train[text_field])
    sets = None
    if paraphrase_file is not None:
        sets = [group[:num_paraphrases] for group in load_paraphrases_jsonl(paraphrase_file, len(documents))]
    entities = corpus_entities(loaded.train, name)
    return KnowledgeData(documents=documents, qa=loaded.qa, paraphrases=sets, entities=entities)


def corpus_entities(dataset, name: str) -> list[str]:
    """The strings of the corpus's `entities` column (lists of names, places, dates...), in order, without repeats;
    none without the column."""
    if "entities" not in dataset.column_names:
        return []
    entities = []
    for row, values in enumerate(dataset["entities"]):
        if values is None:
            continue
        if not (isinstance(values, list) and all(isinstance(v, str) and v.strip() for v in values)):
            raise ValueError(f"{name!r}, row {row}: `entities` must be a list of non-empty strings, got {values!r}.")
        entities += values
    return list(dict.fromkeys(entities))

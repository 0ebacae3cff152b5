"""Knowledge datasets: the built-in invented people and biographies, NameDescription folders, the paper's own data
folder, corpora of local files or Hub datasets (with or without QA items), and the data transforms of the baselines."""

from .biographies import Biography, build_biographies_dataset, generate_biographies, load_biographies_jsonl
from .corpus import Corpus, CorpusArguments, load_corpus
from .masked_arllm import load_masked_arllm
from .name_description import load_name_description
from .people import Person, build_people_dataset, generate_people, person_paraphrases
from .qa_io import load_paraphrases_jsonl, load_qa_jsonl, save_qa_jsonl
from .qa_sample import balanced_qa_sample
from .schema import DIRECTIONS, KnowledgeData, QAItem
from .sources import load_knowledge_source
from .transforms import reverse_words, training_documents

__all__ = [
    "DIRECTIONS",
    "Biography",
    "Corpus",
    "CorpusArguments",
    "KnowledgeData",
    "Person",
    "QAItem",
    "balanced_qa_sample",
    "build_biographies_dataset",
    "build_people_dataset",
    "generate_biographies",
    "generate_people",
    "load_biographies_jsonl",
    "load_corpus",
    "load_knowledge_source",
    "load_masked_arllm",
    "load_name_description",
    "load_paraphrases_jsonl",
    "load_qa_jsonl",
    "person_paraphrases",
    "reverse_words",
    "save_qa_jsonl",
    "training_documents",
]

"""Knowledge datasets: the built-in invented people and local documents with QA items."""

from .people import Person, build_people_dataset, generate_people
from .qa_io import load_documents, load_qa_jsonl, save_qa_jsonl
from .schema import DIRECTIONS, KnowledgeData, QAItem

__all__ = [
    "DIRECTIONS",
    "KnowledgeData",
    "Person",
    "QAItem",
    "build_people_dataset",
    "generate_people",
    "load_documents",
    "load_qa_jsonl",
    "save_qa_jsonl",
]

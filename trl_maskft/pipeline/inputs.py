"""What a knowledge run trains on, from its script arguments: a built-in or prefixed knowledge source held in memory
(`load_knowledge`), or a corpus kept in `datasets` (`load_training_data`: local files or a Hub dataset, possibly
streamed, with held-out rows and QA items when there are some)."""

from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedTokenizerBase
from trl import ModelConfig

from ..data import KnowledgeData
from ..data.corpus import Corpus, CorpusArguments, load_corpus
from ..data.sources import is_generated, load_knowledge_source
from ..data.transforms import entity_spans_dataset
from ..runtime.default_model import resolve_model_path
from ..runtime.run_folder import check_outside_corpus
from .arguments import KnowledgeScriptArguments


def load_knowledge(
    script_args: KnowledgeScriptArguments,
    paraphrases: str = "none",
    paraphrase_file: str | None = None,
    num_paraphrases: int | None = None,
    corpus_args: CorpusArguments | None = None,
    text_field: str = "text",
) -> KnowledgeData:
    """The documents, QA items and, unless `paraphrases` is "none", the paraphrase sets named by the script arguments,
    in memory (`trl_maskft.data.sources.load_knowledge_source`; a corpus is read by `corpus_args`)."""
    return load_knowledge_source(
        script_args.dataset_name,
        qa_file=script_args.qa_file,
        dataset_config=script_args.dataset_config,
        num_people=script_args.num_people,
        seed=script_args.dataset_seed,
        paraphrases=paraphrases,
        paraphrase_file=paraphrase_file,
        num_paraphrases=num_paraphrases,
        num_eval_templates=script_args.qa_templates_per_person,
        corpus=corpus_args,
        text_field=text_field,
    )


def load_tokenizer(model_args: ModelConfig, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of the run's model (the default alias resolved), for data preparation before the trainer."""
    return AutoTokenizer.from_pretrained(
        resolve_model_path(model_args.model_name_or_path),
        revision=model_args.model_revision,
        trust_remote_code=trust_remote_code,
    )


def check_streaming(corpus_args: CorpusArguments, training_args) -> None:
    """A stream has no length: the run's length must be `max_steps`."""
    if corpus_args.dataset_streaming and training_args.max_steps <= 0:
        raise ValueError(
            "`dataset_streaming: true` reads the corpus as a stream, whose length is unknown: set `max_steps` (the "
            "number of optimizer steps to train), or stream no more and let the epochs count."
        )


def load_training_data(
    script_args: KnowledgeScriptArguments,
    corpus_args: CorpusArguments,
    training_args,
    model_args: ModelConfig,
) -> Corpus:
    """The rows to train on, held-out rows and QA items of the run: a built-in source's documents (evaluated on
    themselves when `eval_strategy` is set) or a corpus (`load_corpus`), whose held-out rows need `eval_strategy`.
    An `output_dir` inside the corpus folder is refused first, before its files are read as corpus."""
    name = script_args.dataset_name
    check_outside_corpus(training_args.output_dir, name)
    check_streaming(corpus_args, training_args)
    text_field = training_args.dataset_text_field
    if is_generated(name):
        knowledge = load_knowledge(script_args, corpus_args=corpus_args)
        if getattr(training_args, "mask_unit", None) == "entity":  # masked SFT hides the entities the source knows
            train = entity_spans_dataset(knowledge, text_field, training_args.entity_spans_column)
            return Corpus(train=train, qa=knowledge.qa)
        return Corpus(train=knowledge.documents_dataset(text_field), qa=knowledge.qa)
    remote = getattr(training_args, "trust_remote_code", False)
    corpus = load_corpus(
        name,
        corpus_args,
        text_field,
        dataset_config=script_args.dataset_config,
        qa_file=script_args.qa_file,
        qa_max_items=script_args.qa_max_items,
        seed=script_args.dataset_seed,
        num_proc=training_args.dataset_num_proc,
        tokenizer=load_tokenizer(model_args, remote) if corpus_args.qa_max_tokens else None,
    )
    if corpus.eval is not None and training_args.eval_strategy == "no":
        raise ValueError(
            "Rows are held out for evaluation (`dataset_test_split` or `dataset_test_size`) but `eval_strategy` is "
            "'no': set `eval_strategy` (e.g. `epoch`, or `steps` with `eval_steps`) or hold out nothing."
        )
    return corpus

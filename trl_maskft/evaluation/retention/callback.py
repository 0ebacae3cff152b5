"""Retention measured beside injection: `RetentionCallback` logs `retain_*` metrics on the QA callback's schedule."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

from transformers import Trainer

from ...data.schema import QAItem
from ..answering import Answerer, GreedyAnswerer
from ..generation import chat_prompts, greedy_config
from ..qa_callback import across_processes
from ..qa_scoring import contains_answer
from ..scheduled import ScheduledEvalCallback, params_sharded
from .config import RetentionConfig
from .nll import answer_sequences, mean_nll, sequence_nlls, text_sequences
from .report import retention_table

logger = logging.getLogger(__name__)

BASE_FILE = "retain_base.json"  # in each checkpoint: the facts the base model answered right, and its answers


def kept_facts(base_right: Sequence[bool], right: Sequence[bool]) -> dict[str, float]:
    """`retain_known_facts` (the share of the facts the base model answered right that are still answered right; NaN
    when the base answered none), `retain_known_facts_kept` and `retain_known_facts_base` (the counts)."""
    base = sum(base_right)
    kept = sum(b and r for b, r in zip(base_right, right, strict=True))
    return {
        "retain_known_facts": kept / base if base else float("nan"),
        "retain_known_facts_kept": kept,
        "retain_known_facts_base": base,
    }


def warn_empty_answers(answers: Sequence[str]) -> None:
    """One warning counting the base model's empty answers to the instructions: they hold no token, so the
    self-answer NLL leaves them out (and is NaN when every answer is empty)."""
    empty = sum(not answer.strip() for answer in answers)
    if empty:
        logger.warning(
            "%d of the %d base-model answers to the retention instructions are empty: `retain_self_nll` is measured "
            "on the others only (NaN when none is left). Check that the model answers the chat template's prompts "
            "(`retain_self_max_new_tokens`, the tokenizer's chat template).",
            empty,
            len(answers),
        )


def rise(value: float, base: float) -> float:
    """How much `value` rose over `base`, relative to `base` (0 when equal)."""
    return (value - base) / base


class RetentionCallback(ScheduledEvalCallback):
    """Measures what injection costs the model (`retain_*` metrics), on the QA callback's schedule and always before
    training (epoch 0, the base model): `retain_known_facts` (with its counts), `retain_self_nll` (the per-token NLL
    of the base model's greedy answers to generic instructions, and `retain_self_nll_rise` over epoch 0) and, with
    texts, `retain_text_nll` (and `retain_text_nll_rise`).

    The known facts are answered by `answerer` shortened to `retain_max_new_tokens` (the run's way of answering) and
    scored by lenient containment. The NLL metrics need an autoregressive model: with a masked-diffusion answerer only
    the known facts are measured. Work is split across processes like the QA callback's. Its table is saved in
    `beside`, under the run's main report. What the base model did at epoch 0 (the facts it answered right, its
    answers) is read back from `retain_generations/epoch_0.jsonl` on resume.
    """

    prefix = "retain"
    schedule_keys = ("qa_eval_every", "qa_eval_epochs")  # it follows the QA callback's schedule
    title = "Retention (what the model still knows and does besides the injected facts)"
    nothing_logged = "No retention was measured."

    def __init__(
        self,
        trainer: Trainer,
        config: RetentionConfig,
        answerer: Answerer,
        facts: Sequence[QAItem],
        instructions: Sequence[str],
        texts: Sequence[str] = (),
        eval_every: int = 1,
        eval_epochs: Sequence[int] | None = None,
        system_prompt: str | None = None,
        beside: str = "qa_summary.md",
    ):
        if texts and not answerer.autoregressive:
            raise ValueError("Texts are scored by a left-to-right NLL, which a masked-diffusion model has not.")
        super().__init__(trainer, eval_every, eval_epochs)
        self.config = config
        self.answerer = answerer.shortened(config.retain_max_new_tokens, config.retain_batch_size)
        self.self_answerer = GreedyAnswerer(greedy_config(config.retain_self_max_new_tokens), config.retain_batch_size)
        self.facts = list(facts)
        self.instructions = list(instructions) if answerer.autoregressive else []
        self.texts = list(texts)
        self.system_prompt = system_prompt
        self.beside = beside
        self.base_right: list[bool] | None = None
        self.self_answers: list[str] | None = None

    @property
    def summary_file(self) -> str:
        return self.beside  # printed and saved under the run's QA table (or its evaluation losses)

    def _due(self, epoch: int) -> bool:
        return epoch == 0 or super()._due(epoch)  # the base model is what retention compares with

    def _run(self, inputs: Sequence, compute) -> list:
        return across_processes(self.trainer, inputs, compute)

    def _prompts(self, questions: Sequence[str]) -> list[str]:
        return chat_prompts(self.trainer.processing_class, questions, self.system_prompt)

    def _nlls(self, sequences) -> list[tuple]:
        tokenizer = self.trainer.processing_class
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        batch_size = self.config.retain_batch_size
        return self._run(sequences, lambda model, local: sequence_nlls(model, local, batch_size, pad))

    def _restore_base(self) -> None:
        """The facts the base model answered right and its answers: from the checkpoint the run resumed from
        (`BASE_FILE`), else from epoch 0's records in `output_dir`."""
        args = self.trainer.args
        checkpoint = args.resume_from_checkpoint
        saved = os.path.join(checkpoint, BASE_FILE) if isinstance(checkpoint, str) else ""
        if os.path.isfile(saved):
            with open(saved) as f:
                base = json.load(f)
            self.base_right, self.self_answers = base["base_right"], base["self_answers"]
            return
        path = os.path.join(args.output_dir, f"{self.prefix}_generations", "epoch_0.jsonl")
        if not os.path.isfile(path) or self.history[0]["epoch"] != 0:
            raise FileNotFoundError(f"Resuming retention needs the base model's records, {path}, written at epoch 0 "
                                    "of this run: restore the file or start the run afresh.")  # fmt: skip
        with open(path) as f:
            records = [json.loads(line) for line in f]
        self.base_right = [r["right"] for r in records if r["kind"] == "fact"]
        self.self_answers = [r["answer"] for r in records if r["kind"] == "instruction"]

    def on_save(self, args, state, control, **kwargs):
        """Keep what the base model did in the checkpoint, for a run resumed from it in another folder."""
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if self.base_right is not None and self.trainer.is_world_process_zero() and os.path.isdir(folder):
            with open(os.path.join(folder, BASE_FILE), "w") as f:
                json.dump({"base_right": self.base_right, "self_answers": self.self_answers}, f)

    def measure(self) -> tuple[list[dict], dict[str, float]]:
        tokenizer, synced = self.trainer.processing_class, params_sharded(self.trainer)
        first = not self.history  # epoch 0: the base model
        if not first and self.base_right is None:
            self._restore_base()
        # After epoch 0 only the facts the base model answered right are asked: the others never count
        asked = [i for i in range(len(self.facts)) if first or self.base_right[i]]
        prompts = self._prompts([self.facts[i].question for i in asked])
        answer = self.answerer  # no facts to ask (the base knew none) is nothing to split across processes
        predictions = self._run(prompts, lambda model, local: answer(model, tokenizer, local, synced)) if asked else []
        right = [False] * len(self.facts)
        for i, prediction in zip(asked, predictions, strict=True):
            right[i] = bool(contains_answer(prediction, self.facts[i].answers, "lenient"))
        if first:
            self.base_right = right
        records = [
            {"kind": "fact", "question": self.facts[i].question, "answers": list(self.facts[i].answers),
             "group": self.facts[i].group, "prediction": prediction, "right": right[i],
             "base_right": self.base_right[i]}
            for i, prediction in zip(asked, predictions, strict=True)
        ]  # fmt: skip
        metrics = kept_facts(self.base_right, right)
        if self.instructions:
            prompts = self._prompts(self.instructions)
            if first:
                answer = self.self_answerer
                self.self_answers = self._run(prompts, lambda model, local: answer(model, tokenizer, local, synced))
                warn_empty_answers(self.self_answers)
            results = self._nlls(answer_sequences(tokenizer, prompts, self.self_answers))
            pairs = zip(self.instructions, self.self_answers, results, strict=True)
            records += [
                {"kind": "instruction", "instruction": instruction, "answer": answer, "nll": total, "tokens": count}
                for instruction, answer, (total, count) in pairs
            ]
            metrics.update(self._nll_metrics("self", mean_nll(results)))
        if self.texts:
            results = self._nlls(text_sequences(tokenizer, self.texts, self.config.retain_max_length))
            records += [{"kind": "text", "nll": total, "tokens": count} for total, count in results]
            metrics.update(self._nll_metrics("text", mean_nll(results)))
        return records, metrics

    def _nll_metrics(self, name: str, nll: float) -> dict[str, float]:
        key = f"retain_{name}_nll"
        base = self.history[0][key] if self.history else nll
        return {key: nll, f"{key}_rise": rise(nll, base)}

    def summary(self) -> str:
        table = retention_table(self.history)
        if self.instructions:
            return table
        return f"{table}\n\nThe NLL metrics are for autoregressive models: not measured for this masked-diffusion run."

    def card_description(self) -> str:
        return f"measured by `{type(self).__name__}` before training (epoch 0) and after the evaluated epochs: " + (
            self.config.describe()
        )

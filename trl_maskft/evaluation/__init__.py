"""Evaluation: the scheduled evaluation callbacks, QA answering and scoring, best-epoch selection, reports, the model
card, answer tasks (`tasks/`) and lm-eval benchmarks (`lm_eval/`). Imports no method."""

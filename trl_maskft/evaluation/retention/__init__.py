"""Retention: what injection costs the model, measured beside the QA evaluation (`retain_*` metrics): the known facts
the base model answered that the trained model still answers, and the per-token NLL of the base model's own answers
and of general text. The settings (`RetentionConfig`, recipe keys `retain_*`) and the callback
(`RetentionCallback`); see docs/retention.md."""

from .callback import RetentionCallback
from .config import RetentionConfig

__all__ = ["RetentionCallback", "RetentionConfig"]

"""The functions the YAML tasks of this folder name (`!function maskft_utils.<name>`); lm-eval imports this file by
its path, so it only re-exports them from the package (`trl_maskft.evaluation.lm_eval.task_functions`)."""

from trl_maskft.evaluation.lm_eval.task_functions import gpqa_process_docs, math_process_results, task_dataset

__all__ = ["gpqa_process_docs", "math_process_results", "task_dataset"]

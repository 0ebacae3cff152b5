"""`SafeCheckpointsMixin`: nothing lost to a checkpoint. Checkpoints appear whole or not at all, a resume starts from
a complete checkpoint only (`resume_from_checkpoint: last` picks the newest complete one), and a SIGTERM or Ctrl-C
stops training with a complete checkpoint (`trl_maskft.runtime.preemption`).

Mixed into every trainer the scripts build (`MaskedSFTTrainer`, `DiffusionSFTTrainer`, `BaselineSFTTrainer`):

```python
class MyTrainer(SafeCheckpointsMixin, SFTTrainer): ...
```
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from contextlib import contextmanager, nullcontext

from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from .checkpoints import STAGING_DIR, last_complete_checkpoint, publish_checkpoint, resolve_resume
from .disk_space import NoSpaceLeft, device, is_disk_full
from .preemption import PreemptionCallback, TrainingInterrupted
from .resume_recipe import RECIPE_FILE, STATE_STEP_KEYS, apply_learning_rate, check_resume_recipe


class SafeCheckpointsMixin:
    """Mixin for a `transformers.Trainer` subclass (put it before the Trainer class in the bases).

    - `train(resume_from_checkpoint=...)` checks the checkpoint first
    (`trl_maskft.runtime.checkpoints.resolve_resume`):
      an incomplete or damaged one is refused, naming what is missing and the last complete checkpoint; `True`,
      "true" or "last" resume from the newest complete checkpoint in `output_dir`.
    - Every process writes its files of a checkpoint into `output_dir/_checkpoint-staging/checkpoint-<step>`; once
      all have, the main process renames it to `output_dir/checkpoint-<step>`, so a kill during a save leaves no
      half checkpoint under a checkpoint's name. Then, as the Trainer does, the checkpoint is pushed to the Hub
      (`hub_strategy`) and older ones rotated (`save_total_limit`, keeping `state.best_model_checkpoint`).
    - A save that fills the disk removes its staging folder and raises `NoSpaceLeft`, naming the device and the last
      complete checkpoint, which is kept.
    - `train` stops at the next step end after a SIGTERM or SIGINT, saves a checkpoint and raises
      `TrainingInterrupted` (see `PreemptionCallback`, kept as `self.preemption`).
    - With a `run_recipe` (set by the scripts), every checkpoint keeps it, and a resume with a changed recipe is
      refused unless `resume_allow_changes` names the changed keys, whose new values are then used
      (`trl_maskft.runtime.resume_recipe`).
    - A resume does not report a tied weight (`lm_head.weight` with `tie_word_embeddings`) as a missing key.
    """

    run_recipe: dict | None = (
        None  # the run's recipe (`trl_maskft.runtime.resume_recipe.run_recipe`), set by the scripts
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preemption = PreemptionCallback()
        self.add_callback(self.preemption)
        self.resume_changes: dict[str, tuple] = {}  # the recipe changes `resume_allow_changes` allowed

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs):
        checkpoint = resolve_resume(resume_from_checkpoint, self.args.output_dir, self.args.world_size)
        self.resume_changes = {}
        if checkpoint is not None and self.run_recipe is not None:
            allowed = getattr(self.args, "resume_allow_changes", None) or []
            self.resume_changes = check_resume_recipe(checkpoint, self.run_recipe, allowed)
        preemption = self.preemption in self.callback_handler.callbacks  # else signals keep their usual effect
        with self.preemption.catching_signals(announce=self.args.process_index == 0) if preemption else nullcontext():
            output = super().train(resume_from_checkpoint=checkpoint, trial=trial, **kwargs)
            # Stopped, but the Trainer saved no checkpoint (`save_strategy: best`, an evaluation that did not improve)
            if self.preemption.stopping_at is not None:
                signum = self.preemption.signum
                raise TrainingInterrupted(
                    f"Training stopped by {signal.Signals(signum).name} after step {self.state.global_step}, without "
                    "a checkpoint of it (`save_strategy: best` saves improved checkpoints only); resume from the last "
                    "checkpoint with `--resume_from_checkpoint last`.",
                    signum,
                    None,
                )
        return output

    @contextmanager
    def _writing_checkpoint_into(self, staging: str):
        """Inside the block, `Trainer._save_checkpoint` writes into `staging` and neither pushes nor rotates."""
        push_to_hub, limit = self.args.push_to_hub, self.args.save_total_limit
        self._get_output_dir = lambda trial: staging
        self.args.push_to_hub, self.args.save_total_limit = False, None
        try:
            yield
        finally:
            del self._get_output_dir
            self.args.push_to_hub, self.args.save_total_limit = push_to_hub, limit

    def _save_checkpoint(self, model, trial):
        run_dir = self._get_output_dir(trial=trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = os.path.join(run_dir, STAGING_DIR)
        staged, final = os.path.join(staging, name), os.path.join(run_dir, name)
        if self.is_world_process_zero():  # left by a save that was killed
            shutil.rmtree(staged, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        with self._writing_checkpoint_into(staging):
            try:
                super()._save_checkpoint(model, trial)
            except Exception as error:  # each writer (torch, safetensors, json) has its own error types
                if not is_disk_full(error):
                    raise
                raise self._no_space_left(error, staged, final) from error
        if self.run_recipe is not None and self.args.should_save:
            with open(os.path.join(staged, RECIPE_FILE), "w") as f:
                json.dump(self.run_recipe, f, indent=2)
        if self.state.best_model_checkpoint == staged:  # set by the Trainer when this checkpoint is the best
            self.state.best_model_checkpoint = final
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, TRAINER_STATE_NAME))
        self.accelerator.wait_for_everyone()  # every process has written its files
        if self.is_world_process_zero():
            publish_checkpoint(staged, final)
        self.accelerator.wait_for_everyone()
        if self.is_local_process_zero() and os.path.isdir(staged):  # a node without the main process's filesystem
            publish_checkpoint(staged, final)
        if self.args.push_to_hub:
            self._push_from_checkpoint(final)
        if self.args.should_save:
            rotate_checkpoints(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint, use_mtime=True)

    def _no_space_left(self, error: Exception, staged: str, final: str) -> NoSpaceLeft:
        """Remove the partly written checkpoint `staged` (and its staging folder if empty) to free the disk; the error
        saying so, naming the device and the last complete checkpoint."""
        staging, run_dir = os.path.dirname(staged), os.path.dirname(final)
        shutil.rmtree(staged, ignore_errors=True)
        if os.path.isdir(staging) and not os.listdir(staging):
            os.rmdir(staging)
        last = last_complete_checkpoint(run_dir, self.args.world_size)
        kept = (
            f"The last complete checkpoint, {last}, is kept: once there is space (delete files, keep fewer "
            "checkpoints with `save_total_limit`, or save to another disk), resume from it with "
            "`--resume_from_checkpoint last`."
            if last
            else "No complete checkpoint was saved before it: free space (or set `output_dir` on another disk) and "
            "run again."
        )
        return NoSpaceLeft(
            f"Checkpoint {final} was not saved: no space left on {device(run_dir)}. The writer said: "
            f"{type(error).__name__}: {error}. Its partly written files ({staged}) were removed. {kept}"
        )

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and "learning_rate" in self.resume_changes:
            apply_learning_rate(self.optimizer, self.lr_scheduler, *self.resume_changes["learning_rate"])

    def _init_training_state(self, max_steps, *args, **kwargs):
        trained = super()._init_training_state(max_steps, *args, **kwargs)
        if any(key in self.resume_changes for key in STATE_STEP_KEYS):  # the recipe wins over trainer_state.json
            self.state.compute_steps(self.args, max_steps)
        return trained

    def _issue_warnings_after_load(self, load_result):
        # A tied weight (e.g. `lm_head.weight` with `tie_word_embeddings`) is not saved: it is not missing
        tied = tied_weights(self.model)
        missing = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))


def tied_weights(model) -> set[str]:
    """The parameters of `model` that are tied to another of its parameters (the same tensor), by name."""
    tied = set()
    for target, source in (getattr(model, "all_tied_weights_keys", None) or {}).items():
        try:
            if model.get_parameter(target) is model.get_parameter(source):
                tied.add(target)
        except AttributeError:  # a name of the unwrapped model, not of this one
            continue
    return tied

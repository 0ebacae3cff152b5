"""Publishing a run to the Hugging Face Hub: the repo created where a failure gets a clear message, checkpoints pushed
during training when asked, and the saved run uploaded once at the end, from the main process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils.hub import hf_api

from ..evaluation.model_card import write_model_card

HUB_HELP = (
    "Is the Hub reachable, and are you logged in with write access? Log in with `hf auth login` (or set HF_TOKEN)"
)


def hub_repo_name(training_args) -> str:
    """The Hub repo of the run, as `Trainer.init_hf_repo` names it."""
    return training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))


def push_saved_run(trainer: Trainer, **card_kwargs) -> None:
    """Upload the saved `output_dir` to the Hub from the main process, creating the repo if needed.

    Like `Trainer.push_to_hub` without its second `save_model`, which under ZeRO-3/FSDP waits on every process while
    only the main process talks to the Hub. `card_kwargs` go to `write_model_card`, rewritten with the repo id.
    """
    if not trainer.is_world_process_zero():
        return
    args = trainer.args
    if trainer.hub_model_id is None:
        trainer.init_hf_repo()
    elif trainer.push_in_progress is not None:  # checkpoints pushed during training (`hub_strategy` other than end)
        trainer.push_in_progress.wait_until_done()
    write_model_card(trainer, **card_kwargs)
    hf_api().upload_folder(
        repo_id=trainer.hub_model_id,
        folder_path=args.output_dir,
        commit_message="End of training",
        token=args.hub_token,
        revision=args.hub_revision,
        ignore_patterns=["_*", f"{PREFIX_CHECKPOINT_DIR}-*"],
    )


@dataclass
class HubPublishing:
    """What a run sends to the Hub, taken from its `push_to_hub`, `hub_strategy` and `save_strategy`.

    Unless checkpoints are pushed during training (saved, with a `hub_strategy` other than "end"), the repo is created
    only at the end, so a run without Hub access still trains; otherwise it is created before training, and a failure
    ends the run there with a message. A failed final push (offline, no token, Hub error) leaves everything saved and
    is reported by `publish` for the run to end with.
    """

    push: bool
    push_checkpoints: bool

    @classmethod
    def take_over(cls, training_args) -> HubPublishing:
        """The run's publishing; the Trainer's own pushing is turned off (`push_to_hub`), to be turned on below only
        while checkpoints are pushed."""
        push = training_args.push_to_hub
        checkpoints = push and training_args.hub_strategy != "end" and training_args.save_strategy != "no"
        training_args.push_to_hub = False
        return cls(push, checkpoints)

    @contextmanager
    def training(self, trainer: Trainer) -> Iterator[None]:
        """Around `trainer.train()`: with checkpoints pushed, create the repo first (a clear exit when that fails) and
        let the Trainer push each checkpoint as it saves it; `save_model` after training never pushes."""
        args = trainer.args
        if self.push_checkpoints:
            try:
                trainer.init_hf_repo()
            except Exception as error:  # network, authentication or Hub: as `Trainer.__init__` would have raised it
                raise SystemExit(
                    f"Creating the Hub repo {hub_repo_name(args)!r} failed ({type(error).__name__}: {error}), before "
                    f"training: with `hub_strategy: {args.hub_strategy.value}` checkpoints are pushed as they are "
                    f"saved. {HUB_HELP}, set `push_to_hub: false`, or set `hub_strategy: end` to push once at the "
                    "end of training (a failed push then keeps everything saved locally)."
                ) from error
            args.push_to_hub = True
        try:
            yield
        finally:
            args.push_to_hub = False

    def publish(self, trainer: Trainer, **card_kwargs) -> str | None:
        """Push the saved run (`push_saved_run`) when asked; the message to end the run with when that fails."""
        if not self.push:
            return None
        try:
            push_saved_run(trainer, **card_kwargs)
        except Exception as error:  # network, authentication or Hub: whatever it is, the run is saved
            repo, output_dir = hub_repo_name(trainer.args), trainer.args.output_dir
            return (
                f"Pushing to the Hub repo {repo!r} failed ({type(error).__name__}: {error}). {HUB_HELP}. Nothing is "
                f"lost: the model, tokenizer, model card and QA results are saved in {output_dir!r}. Push them later "
                f"with `hf upload {repo} {output_dir}`."
            )
        return None

"""The private names of TRL, transformers, accelerate, datasets and torch the package relies on
(`trl_maskft.runtime.internals`) still exist in the installed releases, with the parameters the package uses."""

import pytest

from trl_maskft.runtime.internals import INTERNALS, Internal, problem


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda internal: f"{internal.owner}.{internal.name}")
def test_each_private_name_the_package_relies_on_still_exists(internal):
    assert problem(internal) is None, problem(internal)


@pytest.mark.parametrize(
    ("internal", "expected"),
    [
        (
            Internal("transformers.Trainer", "_save_checkpoint_moved", "runtime/safe_checkpoints.py", ("model",)),
            "`transformers.Trainer._save_checkpoint_moved` (used by trl_maskft/runtime/safe_checkpoints.py): it is",
        ),
        (
            Internal("transformers.Trainer", "_save_checkpoint", "runtime/safe_checkpoints.py", ("model", "step")),
            "the package passes or overrides the parameters ['model', 'step'], the installed release takes ['model', "
            "'trial'",
        ),
        (
            Internal("trl.SFTTrainer", "_no_such_metrics", "training/selected_logits.py", kind="attribute"),
            "`trl.SFTTrainer._no_such_metrics` (used by trl_maskft/training/selected_logits.py): the attribute is",
        ),
        (
            Internal("trl.no_such_module", "helper", "evaluation/scheduled.py", kind="module"),
            "`trl.no_such_module.helper` (used by trl_maskft/evaluation/scheduled.py): `trl.no_such_module` cannot be",
        ),
    ],
)
def test_a_moved_name_fails_with_a_message_naming_it_and_its_user(internal, expected):
    assert expected in (problem(internal) or "")


def test_every_private_method_the_mixins_override_is_listed():
    listed = {(internal.owner, internal.name) for internal in INTERNALS}
    for name in (
        "_save_checkpoint",
        "_load_optimizer_and_scheduler",
        "_init_training_state",
        "_issue_warnings_after_load",
    ):
        assert ("transformers.Trainer", name) in listed
    assert ("trl.SFTTrainer", "_prepare_dataset") in listed
    assert ("transformers.Trainer", "_set_signature_columns_if_needed") in listed

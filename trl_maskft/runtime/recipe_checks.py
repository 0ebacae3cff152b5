"""Checks of recipe values that several configs share, each naming the user's key and the fix."""

from __future__ import annotations


def bullet_list(lines: list[str]) -> str:
    """`lines` as a markdown list on lines of their own, for a message."""
    return "".join(f"\n- {line}" for line in lines)


def require_positive(args, names: tuple[str, ...]) -> None:
    """Each of the keys `names` of `args` is unset (None) or a positive number."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"`{name}` must be a positive number, got {value}.")


def check_training_length(num_train_epochs: float, max_steps: int) -> None:
    """A run trains at least one step: `max_steps: 0`, or `num_train_epochs` of 0 or less without `max_steps`, would
    save the untrained model as a trained one."""
    if max_steps == 0:
        raise ValueError(
            "`max_steps: 0` trains nothing (the run would save the untrained model as a trained one): set `max_steps` "
            "to the number of optimizer steps to train, or remove it (-1, the default) to train `num_train_epochs`."
        )
    if max_steps < 0 and num_train_epochs <= 0:
        raise ValueError(
            f"`num_train_epochs: {num_train_epochs}` trains nothing (the run would save the untrained model as a "
            "trained one): set `num_train_epochs` above 0, or `max_steps` to the number of optimizer steps to train."
        )


def check_test_size(size: float | None) -> None:
    """`dataset_test_size` is a share strictly between 0 and 1 or a whole number of rows (1 or more)."""
    if size is not None and not (0 < size < 1 or (size >= 1 and size == int(size))):
        raise ValueError(
            f"`dataset_test_size` must be a share strictly between 0 and 1 (e.g. 0.1) or a whole number of rows "
            f"(e.g. 100), got {size}."
        )

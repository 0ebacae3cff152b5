"""What the mask units and views need from the config and from the tokenized data: clear errors, counted warnings."""

from __future__ import annotations

import logging

from .mask_units import check_span_mean, check_views

logger = logging.getLogger(__name__)


def check_mask_unit_options(args) -> None:
    """The mask unit's and views' keys of a `MaskedSFTConfig`, alone and with packing."""
    check_span_mean(args.mask_span_mean)
    check_views(args.mask_views)
    if args.mask_views_complementary and args.mask_views < 2:
        raise ValueError(
            f"`mask_views_complementary: true` pairs each view with the next, but `mask_views` is {args.mask_views}: "
            "set `mask_views: 2` (or more), or `mask_views_complementary: false`."
        )
    if args.packing and args.mask_views > 1:
        raise ValueError(
            f"`packing: true` fills rows up to `max_length`, and `mask_views: {args.mask_views}` would copy each "
            f"packed row {args.mask_views} times, beyond `max_length`. Use `padding_free: true` instead of packing "
            "(lower `per_device_train_batch_size` to keep a step's memory), or `mask_views: 1`."
        )
    if args.packing and args.mask_unit == "entity":
        raise ValueError(
            "`mask_unit: entity` reads each chat's entity spans, which packed rows do not keep: use `padding_free: "
            "true` instead of `packing`, or another `mask_unit`."
        )


def log_views(args) -> None:
    """Say how many chats a batch of `mask_views` holds (the row length does not change, the batch size does)."""
    if args.mask_views > 1:
        logger.warning(
            "mask_views=%d: every batch holds %d chats (%d documents, %d views each); lower "
            "`per_device_train_batch_size` (raising `gradient_accumulation_steps`) if it does not fit in memory.",
            args.mask_views,
            args.mask_views * args.per_device_train_batch_size,
            args.per_device_train_batch_size,
            args.mask_views,
        )


def check_unit_data(lengths: list[int], entity_counts: list[int] | None, args, split: str) -> None:
    """The tokenized examples suit the mask unit: `span` needs documents at least `mask_span_mean` tokens long and
    `entity` entities to hide; a few without is a counted warning, all of them an error."""
    total = len(lengths)
    if args.mask_unit == "span":
        short = sum(length < args.mask_span_mean for length in lengths)
        what = f"shorter than `mask_span_mean`={args.mask_span_mean} tokens"
        fix = "lower `mask_span_mean`"
        consequence = "their spans are as long as the masked count allows"
    elif args.mask_unit == "entity":
        short = sum(count == 0 for count in entity_counts or [0] * total)
        what = f"without any entity (in `{args.entity_spans_column}` or found by the heuristic)"
        fix = f"give their entities' character spans in a `{args.entity_spans_column}` column"
        consequence = "they are masked token by token"
    else:
        return
    if total and short == total:
        raise ValueError(
            f"All {total} {split} examples are {what}, so `mask_unit: {args.mask_unit}` cannot mask as asked: {fix}, "
            "or use `mask_unit: token`."
        )
    if short:
        logger.warning("%d of %d %s examples are %s: %s (%s).", short, total, split, what, consequence, fix)

"""Issue 22: the `span` and `entity` mask units and the views of a step (`mask_views`), without a real model."""

import numpy as np
import pytest
import torch
from test_masking import MASK, PAD, make_example

from trl_maskft.masked_sft.collator import DataCollatorForMaskedSFT
from trl_maskft.masked_sft.mask_units import (
    choose_entity_positions,
    choose_span_positions,
    complement_positions,
)
from trl_maskft.masked_sft.masking import example_rng, num_to_mask


def runs(offsets) -> list[int]:
    """Lengths of the runs of consecutive offsets."""
    lengths, previous = [], None
    for offset in sorted(int(o) for o in offsets):
        if previous is not None and offset == previous + 1:
            lengths[-1] += 1
        else:
            lengths.append(1)
        previous = offset
    return lengths


@pytest.mark.parametrize("length,ratio", [(10, 0.05), (40, 0.3), (40, 0.95), (1, 0.5)])
def test_span_unit_masks_exactly_t_of_the_tokens(length, ratio):
    for seed in range(30):
        offsets = choose_span_positions(example_rng(seed, 0, 0), length, ratio, 3.0)
        assert len(set(offsets.tolist())) == len(offsets) == num_to_mask(length, ratio)
        assert offsets.min() >= 0 and offsets.max() < length


@pytest.mark.parametrize("mean", [1.0, 3.0, 6.0])
def test_span_lengths_have_the_asked_mean(mean):
    """At a low ratio in a long document the spans stay apart, so the runs are the spans, geometric of mean `mean`
    (cut where they would pass the count, which lowers the mean a little)."""
    lengths = [
        run for seed in range(400) for run in runs(choose_span_positions(example_rng(seed, 0, 0), 400, 0.1, mean))
    ]
    assert mean * 0.85 <= np.mean(lengths) <= mean * 1.05
    if mean == 1.0:
        assert set(lengths) == {1}


def test_span_positions_vary_and_cover_the_document():
    starts = {int(choose_span_positions(example_rng(seed, 0, 0), 30, 0.1, 3.0)[0]) for seed in range(200)}
    assert min(starts) == 0 and max(starts) >= 25


ENTITIES = [[0, 3], [5, 12], [14, 16]]  # 3 + 7 + 2 tokens of a 20-token document


@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.5, 0.7, 0.95])
def test_entity_unit_hides_whole_entities_first(ratio):
    k = num_to_mask(20, ratio)
    for seed in range(40):
        hidden = set(choose_entity_positions(example_rng(seed, 0, 0), 20, ENTITIES, ratio).tolist())
        whole = [e for e in ENTITIES if set(range(*e)) <= hidden]
        for start, end in ENTITIES:  # an entity is hidden whole or not at all, unless all are hidden and more is due
            part = hidden & set(range(start, end))
            assert not part or len(part) == end - start
        assert len(hidden) >= k
        in_entities = sum(end - start for start, end in whole)
        if len(whole) < len(ENTITIES):  # entities left: no other token, and at most one entity past the count
            assert len(hidden) == in_entities
            assert in_entities - max(end - start for start, end in whole) < k
        else:  # entities ran out: other tokens make up the count exactly
            assert len(hidden) == max(k, in_entities)


def test_the_collator_refuses_an_unknown_unit_and_words_without_word_starts():
    for unit in ("sentence", "word"):
        with pytest.raises(ValueError, match="`mask_unit` must be one of"):
            DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, unit=unit)


def test_entity_unit_without_entities_masks_tokens_and_ignores_spans_past_the_document():
    rng = example_rng(0, 0, 0)
    assert len(choose_entity_positions(rng, 10, [], 0.3)) == 3
    assert choose_entity_positions(rng, 4, [[2, 9]], 0.05).tolist() != [2, 3]  # cut from the target: not an entity


def entity_example(idx=0):
    example = make_example(idx, n=20)
    example["entity_spans"] = ENTITIES
    return example


def masked_offsets(batch, row, example):
    start = example["span_start"]
    span = batch["input_ids"][row, start : start + example["span_length"]]
    return (span == MASK).nonzero().flatten().tolist()


def test_collator_entity_unit_reads_each_examples_spans():
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, ratio_mode="fixed", ratio=0.1)
    collator.unit = "entity"
    example = entity_example()
    offsets = masked_offsets(collator([example]), 0, example)
    assert [list(range(*e)) for e in ENTITIES if offsets == list(range(*e))]  # k=2: exactly one whole entity


@pytest.mark.parametrize("unit", ["token", "span", "entity"])
def test_views_are_differently_masked_copies_and_view_zero_is_the_single_view_mask(unit):
    single = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, unit=unit, ratio_scope="example")
    views = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, unit=unit, ratio_scope="example", views=3)
    examples = [entity_example(0), entity_example(1)]
    batch = views(examples)
    assert batch["input_ids"].shape[0] == 6
    masks = [masked_offsets(batch, row, examples[row // 3]) for row in range(6)]
    assert masks[0] == masked_offsets(single(examples), 0, examples[0])
    assert masks[0] != masks[1] and masks[1] != masks[2]
    assert torch.equal(batch["labels"][0], batch["labels"][1])  # loss_on all: every view supervises the same tokens


@pytest.mark.parametrize("views", [2, 3, 4])
def test_complementary_views_hide_what_the_view_before_shows(views):
    collator = DataCollatorForMaskedSFT(
        pad_token_id=PAD, mask_token_id=MASK, views=views, complementary=True, unit="span", ratio_scope="example"
    )
    example = make_example(0, n=20)
    batch = collator([example])
    masks = [set(masked_offsets(batch, row, example)) for row in range(views)]
    for first in range(0, views - 1, 2):
        assert not masks[first] & masks[first + 1] and masks[first] | masks[first + 1] == set(range(20))
    if views > 2:
        assert masks[2] != masks[0] and masks[2] != set(range(20)) - masks[1]
    assert complement_positions(4, np.array([0, 3])).tolist() == [1, 2]


def test_the_loss_of_k_views_is_their_mean_per_document(tiny_model):
    """Token-mean loss of a batch of 2 views of one document = (loss of view 1 + loss of view 2) / 2."""
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=3, views=2, complementary=True)
    example = make_example(0, n=12)
    batch = collator([example])
    with torch.no_grad():
        together = tiny_model(**batch).loss
        apart = [tiny_model(**{key: value[i : i + 1] for key, value in batch.items()}).loss for i in range(2)]
    assert not torch.isclose(apart[0], apart[1])
    assert torch.isclose(together, (apart[0] + apart[1]) / 2, atol=1e-6)


def test_view_masks_are_reproducible_per_seed_epoch_and_row_and_after_resume():
    def masks(seed, epoch, idx=5):
        collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, seed=seed, unit="span", views=2)
        collator.set_epoch(epoch, 10)  # a resumed run: a new collator told the epoch it resumes in
        example = make_example(idx)
        batch = collator([example])
        return [masked_offsets(batch, row, example) for row in range(2)]

    assert masks(0, 3) == masks(0, 3)
    assert masks(0, 3) != masks(1, 3) and masks(0, 3) != masks(0, 4) and masks(0, 3) != masks(0, 3, idx=6)


def trainer_with(tmp_path, model, tokenizer, texts, **keys):
    from datasets import Dataset

    from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer

    data = Dataset.from_dict(texts if isinstance(texts, dict) else {"text": texts})
    args = MaskedSFTConfig(str(tmp_path), report_to="none", use_cpu=True, bf16=False, **keys)
    return MaskedSFTTrainer(model, args=args, train_dataset=data, processing_class=tokenizer)


def test_entity_spans_travel_from_a_column_to_the_masked_tokens(tmp_path, tiny_model, tiny_tokenizer):
    text = "Alice Thornbury is a painter of blue violins."
    columns = {"text": [text, text], "entity_spans": [[[0, 15]], None]}  # row 1: the heuristic
    keys = {"mask_unit": "entity", "mask_ratio_mode": "fixed", "mask_ratio": 0.05}
    trainer = trainer_with(tmp_path, tiny_model, tiny_tokenizer, columns, **keys)
    rows = [trainer.train_dataset[i] for i in range(2)]
    name = tiny_tokenizer.encode("Alice Thornbury", add_special_tokens=False)
    assert rows[0]["entity_spans"] == rows[1]["entity_spans"] == [[0, len(name)]]
    batch = trainer.data_collator(rows)
    for row, example in enumerate(rows):
        start = example["span_start"]
        hidden = (batch["input_ids"][row, start : start + example["span_length"]] == trainer.mask_token_id).nonzero()
        assert hidden.flatten().tolist() == list(range(len(name)))  # the whole name, nothing else


def test_views_and_units_reach_the_collator_and_evaluation_uses_one_view(tmp_path, tiny_model, tiny_tokenizer):
    keys = {"mask_unit": "span", "mask_span_mean": 2.0, "mask_views": 2, "mask_views_complementary": True}
    trainer = trainer_with(tmp_path, tiny_model, tiny_tokenizer, ["Alice Thornbury is a painter."], **keys)
    collator = trainer.data_collator
    assert (collator.unit, collator.span_mean, collator.views, collator.complementary) == ("span", 2.0, 2, True)
    assert trainer.eval_data_collator.views == 1


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"mask_span_mean": 0.5}, "`mask_span_mean` must be at least 1"),
        ({"mask_views": 0}, "`mask_views` must be a whole number of at least 1"),
        ({"mask_views_complementary": True}, "set `mask_views: 2`"),
        ({"mask_views": 2, "packing": True}, "Use `padding_free: true` instead of packing"),
        ({"mask_unit": "entity", "packing": True}, "use `padding_free: true` instead of `packing`"),
    ],
)
def test_bad_mask_unit_and_view_keys_are_refused(tmp_path, keys, message):
    from trl_maskft import MaskedSFTConfig

    with pytest.raises(ValueError, match=message):
        MaskedSFTConfig(str(tmp_path), use_cpu=True, bf16=False, **keys)


def test_data_the_unit_cannot_mask_is_refused_or_counted(tmp_path, tiny_model, tiny_tokenizer, caplog):
    lower = ["the painter paints blue violins.", "a baker bakes bread."]
    with pytest.raises(ValueError, match="All 2 train examples are without any entity"):
        trainer_with(tmp_path, tiny_model, tiny_tokenizer, lower, mask_unit="entity")
    with pytest.raises(ValueError, match="All 2 train examples are shorter than `mask_span_mean`=50"):
        trainer_with(tmp_path, tiny_model, tiny_tokenizer, lower, mask_unit="span", mask_span_mean=50)
    with caplog.at_level("WARNING"):
        trainer_with(
            tmp_path, tiny_model, tiny_tokenizer, [*lower, "Alice Thornbury is a painter."], mask_unit="entity"
        )
    assert "2 of 3 train examples are without any entity" in caplog.text
    completions = {"prompt": ["Who paints?"], "completion": ["Alice Thornbury paints."]}
    with pytest.raises(ValueError, match="prompt/completion rows have none. Use `mask_unit: span`"):
        trainer_with(tmp_path, tiny_model, tiny_tokenizer, completions, mask_unit="entity")
    bad = {"text": ["Alice is here."], "entity_spans": [[[3, 99]]]}
    with pytest.raises(ValueError, match=r"Row 0: `entity_spans` must be a list of \[start, end\) character spans"):
        trainer_with(tmp_path, tiny_model, tiny_tokenizer, bad, mask_unit="entity")


def test_the_name_description_mini_slice_knows_its_names_and_descriptions():
    from trl_maskft.data.sources import load_knowledge_source
    from trl_maskft.data.transforms import entity_spans_dataset

    knowledge = load_knowledge_source("name_description_mini", num_people=20)
    assert len(knowledge.documents) == 20 and len(knowledge.qa) == 40
    groups = [item.group for item in knowledge.qa[::2]]
    assert groups.count("NameIsDescription") == groups.count("DescriptionIsName") == 10
    for document, spans, (n2d, d2n) in zip(
        knowledge.documents, knowledge.entity_spans, zip(*[iter(knowledge.qa)] * 2, strict=True), strict=True
    ):
        assert [document[s:e] for s, e in spans] == [d2n.answer, n2d.answer]  # the name, then the description
        assert {n2d.direction, d2n.direction} == {"forward", "backward"}
    row = entity_spans_dataset(knowledge, "text", "entity_spans")[0]
    assert row["entity_spans"] == knowledge.entity_spans[0]


def test_the_heuristic_finds_names_titles_dates_and_numbers_and_known_entities_win():
    from trl_maskft.data.transforms import entity_char_spans

    text = "In Porto, Alice Thornbury painted 'The Blue Violin' on March 3, 1987 for 1,200 coins."
    found = [text[s:e] for s, e in entity_char_spans(text)]
    assert found == ["Porto", "Alice Thornbury", "'The Blue Violin'", "March 3, 1987", "1,200"]
    assert [text[s:e] for s, e in entity_char_spans(text, ["Thornbury painted"])][1] == "Thornbury painted"


def test_an_entity_across_a_chunk_boundary_is_cut_to_each_chunk():
    from trl_maskft.masked_sft.entity_spans import token_spans

    offsets = [(0, 5), (5, 10), (10, 15), (15, 20), (20, 25)]  # five 5-character tokens, chunks of 3 tokens
    assert token_spans([[7, 18]], offsets, 0, 3) == [[1, 3]]
    assert token_spans([[7, 18]], offsets, 3, 5) == [[0, 1]]
    assert token_spans([[21, 22]], offsets, 0, 3) == []

"""The `mask_unit="word"` option: whole words are masked instead of single tokens (default off)."""

import numpy as np
import pytest
from datasets import Dataset

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.masked_sft.collator import DataCollatorForMaskedSFT
from trl_maskft.masked_sft.masking import choose_word_positions, example_rng, num_to_mask
from trl_maskft.masked_sft.trainer import word_start_token_ids

MASK, PAD = 10**6, 0
# 6 tokens, 3 words: [0, 1, 2] [3] [4, 5]
STARTS = [True, False, False, True, True, False]
WORDS = [[0, 1, 2], [3], [4, 5]]


@pytest.mark.parametrize("ratio", [0.05, 0.4, 0.7, 0.95])
def test_choose_word_positions_masks_whole_words(ratio):
    for seed in range(20):
        offsets = set(choose_word_positions(example_rng(seed, 0, 0), STARTS, ratio).tolist())
        chosen = [word for word in WORDS if set(word) <= offsets]
        assert sum(len(w) for w in chosen) == len(offsets)  # no word is masked in part
        assert len(chosen) == num_to_mask(len(WORDS), ratio)


def test_choose_word_positions_edge_cases():
    rng = np.random.default_rng(0)
    assert choose_word_positions(rng, [], 0.5).size == 0
    assert choose_word_positions(rng, [False, False], 0.5).tolist() == [0, 1]  # one word, the first token starts it


def test_collator_masks_whole_words():
    doc = [11, 12, 13, 21, 31, 32]  # word starts 11, 21, 31
    example = {"input_ids": [1, *doc, 2, *doc], "labels": [-100] * 8 + doc, "span_start": 1, "twin_start": 8}
    example.update(span_length=6, idx=0)
    collator = DataCollatorForMaskedSFT(
        pad_token_id=PAD, mask_token_id=MASK, ratio_mode="fixed", ratio=0.4, word_start_ids=frozenset({11, 21, 31})
    )
    span = collator([example])["input_ids"][0, 1:7].tolist()
    masked = {i for i, token in enumerate(span) if token == MASK}
    assert any(set(word) == masked for word in WORDS)  # num_to_mask(3, 0.4) == 1 whole word


def test_trainer_option_is_off_by_default(tmp_path, tiny_model, tiny_tokenizer):
    assert MaskedSFTConfig(str(tmp_path), use_cpu=True, bf16=False).mask_unit == "token"
    with pytest.raises(ValueError, match="mask_unit"):
        MaskedSFTConfig(str(tmp_path), use_cpu=True, bf16=False, mask_unit="sentence")
    starts = word_start_token_ids(tiny_tokenizer)
    assert tiny_tokenizer.convert_tokens_to_ids("Ġis") in starts
    data = Dataset.from_dict({"text": ["Alice Thornbury is a painter."]})
    for unit, expected in (("token", None), ("word", starts)):
        args = MaskedSFTConfig(str(tmp_path), mask_unit=unit, report_to="none", use_cpu=True, bf16=False)
        trainer = MaskedSFTTrainer(tiny_model, args=args, train_dataset=data, processing_class=tiny_tokenizer)
        assert trainer.data_collator.word_start_ids == expected


def test_word_starts_of_a_sentencepiece_tokenizer():
    """SentencePiece decoders strip the leading space of a lone "▁word" token; it still starts a word."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "▁Daphne": 1, "▁Bar": 2, "ring": 3, "ton": 4, "▁is": 5, ".": 6}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", continuing_subword_prefix=""))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    assert tokenizer.convert_tokens_to_string(["▁Daphne"]) == "Daphne"  # the space is gone when decoded alone
    assert word_start_token_ids(tokenizer) == {1, 2, 5}

"""The autoregressive SFT baselines (plain, paraphrase and reverse SFT): `BaselineSFTConfig` and `BaselineSFTTrainer`.
Imports training/, runtime/, data/ and common, never another method."""

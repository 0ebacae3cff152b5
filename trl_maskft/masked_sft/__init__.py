"""Masked SFT (arXiv 2510.09885): the config, the trainer, the masking collator, the masking functions, the
reconstruction chats and their data preparation. Imports training/, runtime/, data/, evaluation/ and common, never
another method."""

"""Diffusion SFT (LLaDA-style masked diffusion): the config, the trainer, the noise and loss, the sampler and its
evaluation answerer. Imports training/, runtime/, data/, evaluation/ and common, never another method."""

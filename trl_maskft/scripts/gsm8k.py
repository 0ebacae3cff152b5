"""`task: gsm8k` of the sft and masked_sft scripts: SFT on GSM8K, scored by answer accuracy along the way.

```bash
accelerate launch --config_file accelerate_configs/cpu.yaml -m trl_maskft.scripts.masked_sft \
    --config recipes/smollm2-135m-instruct/masked_sft/config_gsm8k.yaml
```
"""

from __future__ import annotations

from transformers import Trainer
from trl import ModelConfig

from ..data import KnowledgeData
from ..data.transforms import to_conversational
from ..gsm8k import GSM8KEvalCallback, gsm8k_qa_items, load_gsm8k
from .utils import KnowledgeScriptArguments, train_and_report


def train_gsm8k(
    trainer_cls: type[Trainer],
    script_args: KnowledgeScriptArguments,
    training_args,
    model_args: ModelConfig,
    conversational: bool = False,
    system_prompt: str | None = None,
    recipe: str | None = None,
    method: str | None = None,
) -> GSM8KEvalCallback:
    """Train on the first `max_train_samples` training rows (as chats with `conversational`) and ask the first
    `qa_max_items` test questions 0-shot along the way (`GSM8KEvalCallback`); `method` names a baseline trainer's
    method in the model card (see `train_and_report`)."""
    source, config = script_args.dataset_name, script_args.dataset_config
    train = load_gsm8k(source, "train", config, script_args.max_train_samples)
    test = load_gsm8k(source, "test", config, script_args.qa_max_items)
    return train_and_report(
        trainer_cls,
        script_args,
        training_args,
        model_args,
        to_conversational(train) if conversational else train,
        KnowledgeData(documents=[], qa=gsm8k_qa_items(test)),
        system_prompt=system_prompt,
        recipe=recipe,
        qa_callback=GSM8KEvalCallback,
        method=method,
    )

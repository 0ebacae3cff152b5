"""In-format probe of a masked-SFT model: can it fill in a person's whole name in its own training format?

    python benchmarks/probe_in_format.py outputs/smollm2-135m-instruct/masked_sft/people --num_people 10

Each built-in document "{name} is {description}." is shown with every token of the name replaced by the mask token,
in the reconstruction chat the model was trained on; the greedy reconstruction should start with the name. This is
the cheapest signal of the backward direction: if the model cannot recover the name here, QA-format backward answers
will not appear either. Prints the fraction of names recovered and the number of distinct names written.
"""

from __future__ import annotations

import argparse

from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_maskft.data import build_people_dataset
from trl_maskft.evaluation.generation import generate_answers, greedy_config
from trl_maskft.masked_sft.chats import ReconstructionTemplate, render_segments
from trl_maskft.masked_sft.config import DOCUMENT_INSTRUCTION, DOCUMENT_RESPONSE_PREFIX


def name_masked_prompts(tokenizer, documents: list[str], names: list[str], mask_token: str, system_prompt) -> list:
    """Reconstruction prompts (up to the response prefix) with each document's leading name masked token by token."""
    template = ReconstructionTemplate(DOCUMENT_INSTRUCTION, DOCUMENT_RESPONSE_PREFIX, system_prompt)
    pre, mid, _ = render_segments(tokenizer, template)
    prompts = []
    for doc, name in zip(documents, names, strict=True):
        masked = mask_token * len(tokenizer.encode(name, add_special_tokens=False)) + doc[len(name) :]
        prompts.append(pre + masked + mid)
    return prompts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="A saved (masked SFT) model directory.")
    parser.add_argument("--num_people", type=int, default=10, help="As trained (the default recipe: 10).")
    parser.add_argument("--dataset_seed", type=int, default=0)
    parser.add_argument("--mask_token", default=" []")
    parser.add_argument("--system_prompt", default="", help='As trained (the default recipe: "", none).')
    parser.add_argument(
        "--template_system_prompt", action="store_true", help="Keep the chat template's default system prompt instead."
    )
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    knowledge = build_people_dataset(args.num_people, args.dataset_seed)
    names = knowledge.entities  # the people's names, in the order of their documents
    system_prompt = None if args.template_system_prompt else args.system_prompt
    prompts = name_masked_prompts(tokenizer, knowledge.documents, names, args.mask_token, system_prompt)
    outputs = generate_answers(model, tokenizer, prompts, greedy_config(12), len(prompts))
    recovered = [out.startswith(name) for out, name in zip(outputs, names, strict=True)]
    written = {" ".join(out.split()[:2]) for out in outputs}
    for name, out in zip(names, outputs, strict=True):
        print(f"{name:24s} -> {out}")
    print(f"names recovered: {sum(recovered)}/{len(names)}; distinct names written: {len(written)}")


if __name__ == "__main__":
    main()

"""SFT with paraphrases: the sft script, whose recipes set `paraphrases: same_order` or `permuted`.

```bash
accelerate launch -m trl_maskft.scripts.paraphrase_sft \
    --config recipes/smollm2-135m-instruct/paraphrase_sft/config_biographies.yaml
```
"""

from .sft import main, make_parser

__all__ = ["main", "make_parser"]

if __name__ == "__main__":
    main()

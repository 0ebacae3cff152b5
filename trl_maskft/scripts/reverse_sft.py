"""Reverse training (Golovneva et al. 2024): the sft script, whose recipes set `reverse_training: true`.

```bash
accelerate launch -m trl_maskft.scripts.reverse_sft \
    --config recipes/smollm2-135m-instruct/reverse_sft/config_biographies.yaml
```
"""

from .sft import main, make_parser

__all__ = ["main", "make_parser"]

if __name__ == "__main__":
    main()

import pytest

try:  # `tests` is a rootdir-relative folder, not necessarily a package
    from tiny import make_tiny_model, make_tiny_tokenizer
except ImportError:  # pragma: no cover
    from tests.tiny import make_tiny_model, make_tiny_tokenizer


@pytest.fixture
def tiny_tokenizer():
    """A fresh tiny ChatML tokenizer (see tests/tiny.py); safe to mutate."""
    return make_tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer):
    """A fresh seed-0 2-layer Llama matching ``tiny_tokenizer``'s vocabulary (see tests/tiny.py)."""
    return make_tiny_model(tiny_tokenizer)

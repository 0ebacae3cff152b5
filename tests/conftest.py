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


VERSIONED = ("torch", "transformers", "trl", "accelerate", "datasets", "peft", "deepspeed", "lm_eval", "pytest")


def pytest_sessionstart(session):
    """First line of every test session (also with -q): the versions under test, as CI's log must show them."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = "Versions: " + ", ".join(f"{name} {installed(name)}" for name in VERSIONED)
    if reporter is not None:
        reporter.write_line(line)

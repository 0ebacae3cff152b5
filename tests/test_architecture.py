"""The dependency rule of docs/architecture.md, read from the package's imports with `ast` (relative and absolute
imports, also inside functions, and the module names given to `importlib.import_module`/`require_eval`):

- a method folder (`masked_sft/`, `diffusion_sft/`, `baselines/`) imports no other method folder;
- `evaluation/` and the shared folders (`training/`, `runtime/`, `data/`, `common.py`) import no method folder;
- nothing outside `scripts/` and `pipeline/` imports `pipeline/` or `scripts/`;
- nothing inside the package imports its public API (`trl_maskft/__init__.py`, which imports every folder);
- no Python file of the project is 300 lines or longer.
"""

import ast
import os

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trl_maskft")
METHODS = ("masked_sft", "diffusion_sft", "baselines")
SHARED = ("training", "runtime", "data", "common")
TOP = ("scripts", "pipeline")
FOLDERS = (*METHODS, "training", "runtime", "data", "evaluation", "updates", "pipeline", "scripts")
DYNAMIC_IMPORTS = ("import_module", "require_eval")
MAX_LINES = 300
LINE_LIMITED = ("trl_maskft", "tests", "benchmarks", "examples")


def module_name(path: str) -> tuple[str, bool]:
    """The dotted name of the package file `path` (relative to the package's parent) and whether it is a package."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported_names(path: str, source: str) -> list[tuple[int, str]]:
    """`(line, absolute module name)` of every import in `source` of the package file `path`; for `from a import b`,
    both `a` and `a.b` (b may be a module), for `from .. import b` the module `b`."""
    module, is_package = module_name(path)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:  # `from .. import x` imports x, not the names of the package
                found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def folder(name: str) -> str | None:
    """The folder (or top-level module) of the package that the module `name` belongs to; "" for the package itself,
    None outside the package."""
    parts = name.split(".")
    if parts[0] != "trl_maskft":
        return None
    return parts[1] if len(parts) > 1 else ""


def broken_rule(importer: str, imported: str) -> str | None:
    """The rule broken when the folder `importer` imports the folder `imported` (None: allowed)."""
    if importer == imported:
        return None
    if importer in METHODS and imported in METHODS:
        return f"a method folder ({importer}/) imports no other method folder ({imported}/)"
    if importer in ("evaluation", "updates", *SHARED) and imported in METHODS:
        return f"{importer}/ imports no method folder ({imported}/): it is below the methods"
    if importer not in TOP and imported in TOP:
        return f"only scripts/ and pipeline/ import {imported}/ (the run flow is on top of everything)"
    if imported == "" and importer != "":
        return "nothing inside the package imports its public API (trl_maskft/__init__.py imports every folder)"
    return None


def violations(files: dict[str, str]) -> list[str]:
    """One message per import that breaks the rule, naming the file, the line, the import and the rule; `files` maps
    package paths (`trl_maskft/...py`) to their source."""
    messages = []
    for path, source in sorted(files.items()):
        importer = folder(module_name(path)[0])
        if importer in ("", "_moved"):  # the public API and the aliases of the old paths import on purpose
            continue
        for line, name in imported_names(path, source):
            imported = folder(name)
            if imported is None or imported not in (*FOLDERS, "common", ""):
                continue
            rule = broken_rule(importer, imported)
            if rule:
                messages.append(f"{path}:{line} imports {name}: {rule}")
    return messages


def python_files(*folders: str) -> dict[str, str]:
    """The source of every `.py` file under the project's `folders`, by path relative to the project root."""
    project = os.path.dirname(PACKAGE_DIR)
    files = {}
    for folder in folders:
        for root, _, names in os.walk(os.path.join(project, folder)):
            for name in names:
                if name.endswith(".py"):
                    full = os.path.join(root, name)
                    with open(full, encoding="utf-8") as f:
                        files[os.path.relpath(full, project).replace(os.sep, "/")] = f.read()
    return files


def test_the_package_keeps_the_dependency_rule():
    files = python_files("trl_maskft")
    missing = [name for name in FOLDERS if f"trl_maskft/{name}/__init__.py" not in files]
    assert not missing, f"docs/architecture.md's folders are missing from trl_maskft/: {missing}"
    assert "trl_maskft/common.py" in files
    problems = violations(files)
    assert not problems, "The dependency rule of docs/architecture.md is broken:\n" + "\n".join(problems)


def test_every_python_file_stays_under_300_lines():
    counts = {path: len(source.splitlines()) for path, source in python_files(*LINE_LIMITED).items()}
    long = [f"{path}: {count} lines" for path, count in counts.items() if count >= MAX_LINES]
    assert not long, f"split these by concern (docs/architecture.md: files under {MAX_LINES} lines): {long}"


def test_the_package_root_holds_only_the_api_common_and_the_old_paths():
    names = {name for name in os.listdir(PACKAGE_DIR) if name.endswith(".py")}
    assert names == {"__init__.py", "common.py", "_moved.py"}, "a module belongs in one of the folders"


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "trl_maskft/diffusion_sft/trainer.py",
            "from ..masked_sft.trainer import PAPER\n",
            "trl_maskft/diffusion_sft/trainer.py:1 imports trl_maskft.masked_sft.trainer: a method folder",
        ),
        (
            "trl_maskft/baselines/trainer.py",
            "import os\n\ndef f():\n    from trl_maskft.diffusion_sft import noise\n",
            "trl_maskft/baselines/trainer.py:4 imports trl_maskft.diffusion_sft: a method folder",
        ),
        (
            "trl_maskft/evaluation/answering.py",
            "from .. import diffusion_sft\n",
            "trl_maskft/evaluation/answering.py:1 imports trl_maskft.diffusion_sft: evaluation/ imports no method",
        ),
        (
            "trl_maskft/training/selected_logits.py",
            "from ..diffusion_sft.noise import accepts_logits_to_keep\n",
            "trl_maskft/training/selected_logits.py:1 imports trl_maskft.diffusion_sft.noise: training/ imports no",
        ),
        (
            "trl_maskft/runtime/resume_recipe.py",
            "\n\nfrom ..pipeline.recipe_parser import bullet_list\n",
            "trl_maskft/runtime/resume_recipe.py:3 imports trl_maskft.pipeline.recipe_parser: only scripts/ and",
        ),
        (
            "trl_maskft/evaluation/lm_eval/callback.py",
            "x = require_eval('trl_maskft.scripts.run')\n",
            "trl_maskft/evaluation/lm_eval/callback.py:1 imports trl_maskft.scripts.run: only scripts/ and pipeline/",
        ),
        (
            "trl_maskft/evaluation/generation.py",
            "from trl_maskft import MaskedSFTTrainer\n",
            "trl_maskft/evaluation/generation.py:1 imports trl_maskft: nothing inside the package imports its public",
        ),
    ],
)
def test_a_broken_rule_names_the_file_the_line_and_the_rule(path, source, expected):
    problems = violations({path: source})
    assert problems and problems[0].startswith(expected), problems


@pytest.mark.parametrize(
    ("path", "source"),
    [
        (
            "trl_maskft/masked_sft/trainer.py",
            "from ..training.packing import pack_chat_dataset\nfrom ..common import PAPER\n",
        ),
        ("trl_maskft/masked_sft/trainer.py", "from .collator import DataCollatorForMaskedSFT\n"),
        ("trl_maskft/pipeline/run.py", "from ..masked_sft.trainer import MaskedSFTTrainer\nfrom .inputs import x\n"),
        ("trl_maskft/scripts/sft.py", "from ..pipeline.run import train_and_report\n"),
        ("trl_maskft/evaluation/qa_callback.py", "from ..runtime.checkpoints import x\nimport torch\n"),
    ],
)
def test_allowed_imports_pass(path, source):
    assert violations({path: source}) == []


def test_what_the_methods_share_is_written_once():
    """Issue 19, item 4: the mask-token config keys and the trainers' tokenizer preamble exist once, in training/."""
    import inspect

    from trl_maskft import DiffusionSFTConfig, DiffusionSFTTrainer, MaskedSFTConfig, MaskedSFTTrainer
    from trl_maskft.training.mask_token import MaskTokenConfigMixin

    for config in (MaskedSFTConfig, DiffusionSFTConfig):
        assert issubclass(config, MaskTokenConfigMixin)
        assert {"mask_token_id", "allow_mask_token_in_data"}.isdisjoint(config.__dict__.get("__annotations__", {}))
    for trainer in (MaskedSFTTrainer, DiffusionSFTTrainer):
        source = inspect.getsource(inspect.getmodule(trainer))
        assert "AutoTokenizer" not in source and "pad_token = " not in source, trainer.__name__
    assert len(inspect.getsource(MaskedSFTTrainer.__init__).splitlines()) <= 40  # named steps, not one long body

"""The docs stay true: the generated configuration reference is current, the index lists every page once, every
relative link of the README and the docs reaches a file and heading that exist, and the README is a front door (under
160 lines, with its sections and the paper's citation)."""

import glob
import importlib.util
import os
import re

from test_readme import ROOT, readme_text

from trl_maskft.common import PAPER

DOCS = os.path.join(ROOT, "docs")


def make_reference():
    spec = importlib.util.spec_from_file_location("make_reference", os.path.join(DOCS, "make_reference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_is_current():
    reference = make_reference()
    with open(reference.PAGE) as f:
        assert f.read() == reference.render(), "docs/configuration.md is stale: run `python docs/make_reference.py`"
    assert reference.main(["--check"]) == 0


def test_configuration_reference_has_the_package_keys_only():
    page = make_reference().render()
    for key in ("mask_ratio_mode", "add_mask_token", "resume_allow_changes", "qa_eval_every", "bench_tasks"):
        assert f"| `{key}` |" in page, key
    for trl_key in ("learning_rate", "max_length", "packing", "dataset_text_field"):  # TRL's, default unchanged
        assert f"| `{trl_key}` |" not in page, trl_key


def test_index_lists_every_page_once():
    with open(os.path.join(DOCS, "index.md")) as f:
        index = f.read()
    listed = re.findall(r"^- \[[\w.]+\]\(([\w.]+\.md)\): ", index, flags=re.MULTILINE)
    pages = sorted(os.path.basename(path) for path in glob.glob(os.path.join(DOCS, "*.md")))
    assert sorted(listed) == sorted(set(pages) - {"index.md"}), "docs/index.md must list every page of docs/ once"


def anchors(path: str) -> set[str]:
    with open(path) as f:
        headings = re.findall(r"^#+ (.+)$", f.read(), flags=re.MULTILINE)
    return {make_reference().anchor(heading) for heading in headings}


def test_relative_links_reach_existing_files_and_headings():
    sources = [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(DOCS, "*.md"))]
    for source in sources:
        with open(source) as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.DOTALL)
        for target, heading in re.findall(r"\]\((?!https?:)([^)#\s]+)(?:#([^)\s]+))?\)", text):
            path = os.path.normpath(os.path.join(os.path.dirname(source), target))
            assert os.path.exists(path), f"{source} links to a missing {target}"
            if heading:
                assert heading in anchors(path), f"{source} links to a missing heading {target}#{heading}"


def test_readme_is_a_front_door():
    text = readme_text()
    assert len(text.splitlines()) < 160
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert sections == ["Install", "Quick start", "Results", "Where to go next", "Files", "Citation"]
    assert "](docs/index.md)" in text and "](docs/time_to_cure_default.png)" in text
    assert "```bibtex\n" + PAPER["citation"] + "\n```" in text
    assert "Qwen/" not in text.split("## Quick start")[1]  # the quick starts run offline: no Hub id

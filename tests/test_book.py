"""The book's conventions: every notebook runs anywhere, is stored clean, and checks its claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


def test_toc_files_exist():
    toc = (ROOT / "_toc.yml").read_text()
    names = re.findall(r"(?:file|root):\s*(\S+)", toc)
    assert names
    for name in names:
        candidates = [ROOT / f"{name}.ipynb", ROOT / f"{name}.md", ROOT / name]
        assert any(c.exists() for c in candidates), f"_toc.yml names {name}, which does not exist"


def test_config_execution_is_strict():
    cfg = _config()
    ex = cfg["execute"]
    assert ex["execute_notebooks"] == "cache"
    assert ex["raise_on_error"] is True
    assert ex["timeout"] > 0
    assert cfg["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_from_the_configured_repository(path):
    """The Colab setup cell and the launch button use the same repository URL."""
    url = _config()["repository"]["url"]
    first = next(c for c in _cells(path) if c["cell_type"] == "code")
    src = "".join(first["source"])
    m = re.search(r'REPO_URL\s*=\s*"([^"]+)"', src)
    assert m, f"{path.name}: the first code cell must set REPO_URL"
    assert m.group(1) == url, f"{path.name}: REPO_URL {m.group(1)} != _config.yml {url}"
    assert "find_spec(\"ibcore\")" in src and "pip" in src
    assert "manual_seed" in src or "ib.notebook.setup(" in src, f"{path.name}: the first cell seeds"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_checks_its_claims_and_cites(path):
    cells = _cells(path)
    checks = [c for c in cells if "check" in c.get("metadata", {}).get("tags", [])]
    assert checks, f"{path.name}: no check cells (tag 'check')"
    for c in checks:
        assert "assert" in "".join(c["source"]), f"{path.name}: a check cell asserts nothing"
        assert "hide-cell" in c["metadata"]["tags"] or "remove-cell" in c["metadata"]["tags"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "{cite" in text and "{bibliography}" in text, f"{path.name}: no citations"
    assert "{exercise}" in text and "{solution}" in text, f"{path.name}: no exercises"
    # Each chapter keeps its own reference list. sphinxcontrib-bibtex warns about (and the strict
    # build fails on) a key cited under two bibliography directives, so every chapter prefixes its
    # keys with its own `keyprefix`: p01- for posts/01-*, m03- for monograph/03-*.
    prefix = ("p" if path.parent.name == "posts" else "m") + path.name[:2] + "-"
    assert f":keyprefix: {prefix}" in text, f"{path.name}: bibliography needs :keyprefix: {prefix}"
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text()))
    for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
        for key in group.split(","):
            key = key.strip()
            assert key.startswith(prefix), f"{path.name}: cite {key} lacks the prefix {prefix}"
            assert key[len(prefix) :] in keys, f"{path.name}: {key} is not in references.bib"


def test_bibliography_parses_and_has_no_duplicate_keys():
    """A malformed entry fails the book build with a bare pybtex traceback; catch it here."""
    from pybtex.database import parse_file

    text = (ROOT / "book/references.bib").read_text()
    keys = re.findall(r"^@\w+\{([^,]+),", text, flags=re.M)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert sorted(parse_file(ROOT / "book/references.bib").entries) == sorted(keys)

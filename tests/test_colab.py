"""The Colab path, without the network: a clean environment, the first cell, the whole notebook.

A Colab runtime has NumPy, SciPy, matplotlib, ipywidgets, ipykernel, scikit-learn and torch, and
no ibcore. This test builds a virtual environment holding exactly those (at the versions of
requirements.txt; torch is the CPU build the machines carry), checks that ibcore is not
importable there, and executes the notebook in a kernel of that environment with
``IBCORE_SOURCE`` pointing at a copy of this checkout: the first cell must install ibcore and
its dependencies from ``pyproject.toml``, and every later cell must run. It fails when the
package metadata misses a dependency or the install cell breaks.

Run with ``make colab-check`` (default: one post; ``make colab-check NB="book/posts/01-*.ipynb
book/monograph/07-*.ipynb"`` for others). ``make unit`` leaves it out: it installs torch into a
fresh environment, a minute or more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what a Colab runtime preinstalls that the book uses
COLAB_PREINSTALLED = ["numpy", "scipy", "matplotlib", "ipywidgets", "ipykernel", "scikit-learn",
                      "torch"]
DEFAULT = "book/posts/01-numbers-and-meaning.ipynb"
NOTEBOOKS = os.environ.get("COLAB_NOTEBOOKS", DEFAULT).split()


def pinned(names: list[str]) -> list[str]:
    """``name==version`` from requirements.txt for each name (the name alone if unpinned)."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(),
                           flags=re.M))
    return [f"{n}=={pins[n]}" if n in pins else n for n in names]


@pytest.fixture
def colab(tmp_path_factory):
    """(python of a clean environment with only the preinstalled packages, a copy of the repo).

    A new environment for every notebook, as Colab gives every notebook a fresh runtime: with one
    shared environment, a later notebook finds ibcore installed by an earlier one, and its first
    cell skips the install of its own extra packages (chapter 7's rdkit and qm9pack).
    """
    base = tmp_path_factory.mktemp("colab")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pinned(COLAB_PREINSTALLED)],
                   check=True)
    # run outside the checkout: `python -c` puts the working directory on sys.path
    probe = subprocess.run([str(python), "-c", "import ibcore"], capture_output=True, cwd=base)
    assert probe.returncode != 0, "the clean environment already has ibcore"
    # the install source: the checkout as pip would see it from git (no .venv, builds, caches)
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "_build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
        ".hypothesis", "build", "benchmarks"))
    # a kernel of the clean environment, found through JUPYTER_PATH
    spec_dir = base / "jupyter" / "kernels" / "colab"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "colab-check", "language": "python"}))
    return python, source, base / "jupyter"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_a_clean_colab_like_environment(colab, notebook, monkeypatch):
    from nbclient import NotebookClient

    python, source, jupyter_path = colab
    path = ROOT / notebook
    assert path.exists(), f"no notebook {notebook}"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("IBCORE_SOURCE", str(source))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("IBCORE_WIDGETS", raising=False)
    monkeypatch.delenv("IBCORE_FIGURE_PDF", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="colab", timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    where = subprocess.run([str(python), "-c", "import ibcore; print(ibcore.__file__)"],
                           capture_output=True, text=True, check=True,
                           cwd=python.parents[2]).stdout.strip()
    assert str(python.parents[1]) in where, f"ibcore imported from {where}, not the clean env"

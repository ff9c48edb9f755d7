"""The pieces of the PDF edition and of the Colab path that run without LaTeX or a network."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from ibcore.widgets import interactive_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

OLD_FIRST_CELL = '''# Setup: in Colab (or any Python without ibcore) install ibcore from the
# book's repository.
import importlib.util
import subprocess
import sys

REPO_URL = "https://github.com/inductive-biases/inductive-biases-book"
if importlib.util.find_spec("ibcore") is None:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.check_call([*pip, f"git+{REPO_URL}"%s])

import ibcore as ib

rng = ib.notebook.setup(seed=0)  # threads, seeds, print options, figures
'''


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "_ext" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _render(a):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, a])
    return fig


def test_interactive_figure_prints_its_first_frame_as_pdf(monkeypatch):
    w = interactive_figure(_render, {"a": [1, 2]}, labels={"a": "slope"})
    monkeypatch.delenv("IBCORE_FIGURE_PDF", raising=False)
    assert "application/pdf" not in w._repr_mimebundle_()
    monkeypatch.setenv("IBCORE_FIGURE_PDF", "1")
    bundle = w._repr_mimebundle_()
    pdf = base64.b64decode(bundle["application/pdf"])
    assert pdf.startswith(b"%PDF")
    assert "image/png" in bundle and "text/html" in bundle  # the HTML book is unchanged
    assert plt.get_fignums() == []  # the print frame's figure is closed


def test_book_pdf_formatter_only_when_asked(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    import ibcore.viz as viz

    shell = InteractiveShell.instance()
    fig, _ = plt.subplots()
    try:
        monkeypatch.delenv("IBCORE_FIGURE_PDF", raising=False)
        viz.use_book_style()
        data, _ = shell.display_formatter.format(fig)
        assert "image/png" in data and "application/pdf" not in data
        monkeypatch.setenv("IBCORE_FIGURE_PDF", "1")
        viz.use_book_style()
        data, _ = shell.display_formatter.format(fig)
        assert "image/png" in data and data["application/pdf"][:4] in (b"%PDF", "%PDF")
    finally:
        plt.close(fig)
        shell.display_formatter.formatters["application/pdf"].pop(type(fig), None)
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("extra", ["", ', "rdkit==2025.9.1", "qm9pack==0.3"'])
def test_first_cell_script_rewrites_the_old_form(extra):
    first_cell = _load("first_cell")
    new = first_cell.rewrite_source(OLD_FIRST_CELL % extra)
    assert first_cell.rewrite_source(new) == new  # idempotent
    assert "import os\nimport subprocess\n" in new
    assert 'SOURCE = os.environ.get("IBCORE_SOURCE", f"git+{REPO_URL}")\n' in new
    assert f"subprocess.check_call([*pip, SOURCE{extra}])" in new
    assert max(len(line) for line in new.splitlines()) <= 79
    compile(new, "first cell", "exec")
    with pytest.raises(ValueError, match="first_cell"):
        first_cell.rewrite_source("import ibcore as ib\n")

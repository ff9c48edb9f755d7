"""The PDF edition (``make pdf``): its length, its text and its LaTeX log.

Skipped, with the reason, when the PDF has not been built or poppler's ``pdftotext`` and
``pdfinfo`` are missing (``make pdf-deps`` installs both with LaTeX).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "book.pdf"
LOG = LATEX / "book.log"

pytestmark = [
    pytest.mark.skipif(not PDF.exists(), reason=f"{PDF.relative_to(ROOT)} not built (make pdf)"),
    pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
                       reason="poppler-utils missing (make pdf-deps)"),
]


def toc_pages() -> list[Path]:
    """Every page of the table of contents (notebooks and Markdown), in order."""
    names = re.findall(r"(?:file|root):\s*(\S+)", (ROOT / "_toc.yml").read_text())
    out = []
    for n in names:
        for suffix in (".ipynb", ".md"):
            if (ROOT / f"{n}{suffix}").exists():
                out.append(ROOT / f"{n}{suffix}")
    return out


def _markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _words(text: str) -> str:
    """Text as pdftotext gives it, compared loosely: one space, no hyphenation, plain quotes."""
    text = text.replace("\u00ad", "").replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\ufb01", "fi")
    text = text.replace("\ufb02", "fl").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text)


def title(path: Path) -> str:
    """The page's first heading as plain text (Markdown markup and math dropped)."""
    m = re.search(r"^# (.+)$", _markdown(path), flags=re.M)
    assert m, f"{path.name}: no title"
    t = re.sub(r"\$[^$]*\$", " ", m.group(1))
    t = re.sub(r"[`*_]", "", t)
    return _words(t).strip()


@pytest.fixture(scope="module")
def text() -> str:
    out = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True,
                         text=True, check=True).stdout
    return _words(out)


@pytest.fixture(scope="module")
def raw_text() -> str:
    return subprocess.run(["pdftotext", str(PDF), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_page_count_is_plausible():
    info = subprocess.run(["pdfinfo", str(PDF)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M).group(1))
    n = len(toc_pages())
    # about 8 to 60 pages per chapter (the API reference is one long appendix)
    assert 8 * n <= pages <= 60 * n, f"{pages} pages for {n} pages of the table of contents"


def test_every_chapter_title_is_in_the_pdf(raw_text):
    text = _words(raw_text)
    for path in toc_pages():
        t = title(path)
        # a long title may break over two lines of the table of contents: its first words
        head = " ".join(t.split()[:6])
        assert head in text, f"title of {path.relative_to(ROOT)} not in the PDF: {head!r}"


def _glued_numbers(path: Path) -> list[tuple[str, str]]:
    """(name, spec) of the fixed-point numbers the prose glues ({glue:text}`name:.2f`)."""
    return re.findall(r"\{glue:text\}`([\w-]+):(\.\d+f)`", _markdown(path))


def _glue_values(path: Path) -> dict[str, str]:
    """name -> text/plain of every value the notebook glued, from the build's execution cache
    (the executed notebooks the HTML and the PDF were both made from)."""
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build" / ".jupyter_cache"))
    try:
        _, nb = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
    except KeyError:
        return {}
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get("scrapbook", {})
            key = record.get("mime_prefix", "") + "text/plain"
            if record.get("name") and key in out.get("data", {}):
                values[record["name"]] = "".join(out["data"][key])
    return values


def test_glued_numbers_are_printed(text):
    """For every notebook, the first number its prose glues is in the PDF, formatted as glued."""
    checked = 0
    for path in toc_pages():
        if path.suffix != ".ipynb":
            continue
        values = _glue_values(path)
        for name, spec in _glued_numbers(path):
            if name not in values:
                continue
            try:
                number = format(float(values[name]), spec)
            except ValueError:
                continue
            assert number in text, f"{path.name}: glued {name} = {number} not in the PDF"
            checked += 1
            break
    assert checked >= 5, f"only {checked} notebooks had a glued number to look for"


def test_interactive_figures_say_where_the_control_is(raw_text):
    assert "the HTML edition has the control" in _words(raw_text)


def test_check_cells_are_absent(text):
    """Check cells assert; their source is not printed (the HTML book folds them)."""
    sources = []
    for path in toc_pages():
        if path.suffix == ".ipynb":
            for c in json.loads(path.read_text())["cells"]:
                if "check" in c.get("metadata", {}).get("tags", []):
                    lines = [ln.strip() for ln in "".join(c["source"]).splitlines()]
                    sources += [ln for ln in lines if ln.startswith("assert ") and len(ln) > 30]
    assert sources
    printed = [s for s in sources if _words(s) in text]
    assert not printed, f"{len(printed)} check-cell lines printed, e.g. {printed[:2]}"


def test_latex_log_has_no_missing_glyphs_or_undefined_references():
    log = LOG.read_text(errors="replace")
    missing = sorted(set(re.findall(r"Missing character: There is no (.+?) in font", log)))
    assert not missing, f"glyphs missing from the fonts: {missing[:20]}"
    undefined = re.findall(r"(?:Reference|Citation) `[^']*' on page \d+ undefined", log)
    assert not undefined, f"undefined references: {undefined[:10]}"
    assert "There were undefined references" not in log


def test_no_overfull_box_cuts_off_code_or_output():
    """Code and output wrap (sphinxsetup verbatimforcewraps): no line runs more than a few
    points past the margin."""
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)",
                                            LOG.read_text(errors="replace"))]
    worst = max(widths, default=0.0)
    assert worst < 20, f"{len(widths)} overfull boxes, the widest {worst:.0f} pt"

"""The book's conventions: every notebook runs anywhere, is stored clean, and checks its claims."""

from __future__ import annotations

import ast
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
    # the install source is overridable (make colab-check points it at the local checkout)
    assert 'SOURCE = os.environ.get("IBCORE_SOURCE", f"git+{REPO_URL}")' in src, (
        f"{path.name}: the first cell reads IBCORE_SOURCE (python _ext/first_cell.py rewrites it)")
    assert "check_call([*pip, SOURCE" in src, f"{path.name}: pip installs SOURCE"
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


# --------------------------------------------------------------------------- CONVENTIONS.md


def _code_cells(path):
    return [c for c in _cells(path) if c["cell_type"] == "code"]


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


FOLDED = {"hide-input", "remove-input", "hide-cell", "remove-cell"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cells_follow_the_conventions(path):
    """The install guard plus `ib.notebook.setup(seed=0)`, then the imports; both folded."""
    first, second = _code_cells(path)[:2]
    src = "".join(first["source"])
    assert "hide-input" in _tags(first), f"{path.name}: the first code cell must be hide-input"
    assert "import ibcore as ib" in src and "ib.notebook.setup(seed=0)" in src, path.name
    last = ast.parse(src).body[-1]
    assert not isinstance(last, ast.Expr), f"{path.name}: bind setup's result (rng = ...)"
    assert len(src.strip().splitlines()) <= 16, f"{path.name}: the first cell is the short form"
    tree = ast.parse(src)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"importlib.util", "os", "subprocess", "sys", "ibcore"}, imported
    assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree)), path.name
    assert "hide-input" in _tags(second), f"{path.name}: the imports cell must be hide-input"
    body = ast.parse("".join(second["source"])).body
    assert body and isinstance(body[0], (ast.Import, ast.ImportFrom)), path.name


def _glue_calls(src):
    """(name, display) of every top-level-or-nested glue("name", value, ...) call."""
    out = []
    for node in ast.walk(ast.parse(src)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "glue" and node.args
                and isinstance(node.args[0], ast.Constant)):
            display = next((k.value.value for k in node.keywords if k.arg == "display"
                            and isinstance(k.value, ast.Constant)), True)
            out.append((node.args[0].value, display))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_are_glued_numbered_and_captioned(path):
    prefix = ("fig-p" if path.parent.name == "posts" else "fig-m") + path.name[:2] + "-"
    cells = _cells(path)
    md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    figures = dict(re.findall(r"```\{glue:figure\}\s+(\S+)\n((?:.|\n)*?)```", md))
    glued = {}
    for c in _code_cells(path):
        src = "".join(c["source"])
        assert "plt.show()" not in src, f"{path.name}: a figure shown with plt.show()"
        for name, display in _glue_calls(src):
            if name.startswith("fig-"):
                glued[name] = display
                assert _tags(c) & FOLDED, f"{path.name}: the plotting cell of {name} is shown"
    for name, display in glued.items():
        assert name.startswith(prefix), f"{path.name}: figure {name} lacks the prefix {prefix}"
        assert display is False, f"{path.name}: glue({name!r}, ..., display=False)"
        assert name in figures, f"{path.name}: {name} is glued but no {{glue:figure}} shows it"
    for name, body in figures.items():
        assert name in glued, f"{path.name}: {{glue:figure}} {name} was never glued"
        assert f":name: {name}" in body, f"{path.name}: {name} needs `:name: {name}`"
        caption = "\n".join(ln for ln in body.splitlines() if not ln.startswith(":")).strip()
        assert len(caption) >= 20, f"{path.name}: {name} needs a caption"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_interactive_figures_are_live_in_jupyter(path):
    """A glued interactive figure appears in the book where {glue:figure} puts it, but a glue
    with display=False shows nothing in Jupyter; so the next cell displays the object (its live
    ipywidgets view), tagged remove-cell so the book does not show the figure twice."""
    cells = _code_cells(path)
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        made = set(re.findall(r"^(\w+)\s*=\s*(?:ib\.widgets\.)?interactive_figure\(", src, re.M))
        for name, var in re.findall(r'glue\(\s*"(fig-[^"]+)",\s*(\w+),\s*display=False\)', src):
            if var not in made:
                continue
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            body = [] if nxt is None else [
                ln for ln in "".join(nxt["source"]).splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
            assert nxt is not None and body == [var], (
                f"{path.name}: the cell after the one that glues {name} must display {var} "
                f"(the live figure in Jupyter)")
            assert {"remove-cell", "live-widget"} <= _tags(nxt), (
                f"{path.name}: the cell displaying {var} needs the tags remove-cell, live-widget")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glue_only_cells_are_folded(path):
    for i, c in enumerate(_code_cells(path)):
        body = ast.parse("".join(c["source"])).body
        only_glue = body and all(
            isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
            and isinstance(s.value.func, ast.Name) and s.value.func.id == "glue"
            for s in body
        )
        if only_glue:
            assert _tags(c) & FOLDED, f"{path.name}: code cell {i} only glues; fold it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_are_numbered_from_the_file_name(path):
    """ib_book renumbers exercises and figures NN.k from the file's NN: the name must say it."""
    assert re.match(r"\d\d-[a-z0-9-]+\.ipynb$", path.name), path.name


def test_book_extension_numbers_within_chapters():
    import importlib.util
    import types

    spec = importlib.util.spec_from_file_location("ib_book", ROOT / "_ext" / "ib_book.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    assert ext.chapter_number("book/posts/02-the-loss-is-a-distribution") == 2
    assert ext.chapter_number("book/monograph/11-generalisation") == 11
    assert ext.chapter_number("book/intro") is None
    env = types.SimpleNamespace(toc_fignumbers={
        "book/posts/02-x": {"exercise": {"a": (4,), "b": (6,), "c": (5,)}, "figure": {"f": (9,)}},
        "book/intro": {"figure": {"g": (1,)}},
    })
    changed = ext.renumber_within_chapters(None, env)
    assert env.toc_fignumbers["book/posts/02-x"]["exercise"] == {"a": (2, 1), "c": (2, 2),
                                                                 "b": (2, 3)}
    assert env.toc_fignumbers["book/posts/02-x"]["figure"] == {"f": (2, 1)}
    assert changed == ["book/posts/02-x"]
    assert ext.renumber_within_chapters(None, env) == []  # idempotent


def test_config_loads_the_book_extension_and_pins_the_theme():
    cfg = _config()
    assert cfg["sphinx"]["local_extensions"] == {"ib_book": "_ext"}
    reqs = (ROOT / "requirements.txt").read_text()
    # sphinx-book-theme 1.3 with pydata-sphinx-theme 0.17 renders a second, hidden header whose
    # toggles the theme binds instead of the visible ones (issue 16): keep the working pair.
    assert "sphinx-book-theme==1.1.4" in reqs and "pydata-sphinx-theme==0.15.4" in reqs


def _load_ext(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "_ext" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_executor_runs_the_toc_notebooks_and_reports_times(tmp_path, monkeypatch, capsys):
    ex = _load_ext("execute")
    names = [p.relative_to(ROOT).as_posix() for p in ex.book_notebooks()]
    assert names and all(n.endswith(".ipynb") for n in names)
    assert set(names) <= {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert ex._config_timeout() == _config()["execute"]["timeout"]
    times = tmp_path / "times.json"
    times.write_text(json.dumps({names[0]: {"wall": 12.5, "cpu": 9.25, "status": "executed"}}))
    monkeypatch.setattr(ex, "TIMES", times)
    assert ex.main(["--report"]) == 0
    out = capsys.readouterr().out
    assert names[0] in out and "12.5" in out and "9.2" in out and "total" in out


def test_book_extension_writes_each_inline_script_once():
    from sphinx.builders.html._assets import _JavaScript

    ext = _load_ext("ib_book")
    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript(None, body=body), _JavaScript("a.js"), _JavaScript("", body=body),
               _JavaScript("a.js"), _JavaScript(None, body="other")]
    ctx = {"script_files": scripts}
    ext.dedupe_scripts(None, "page", "page.html", ctx, None)
    assert [(j.filename or "", j.attributes.get("body")) for j in ctx["script_files"]] == [
        ("", body), ("a.js", None), ("", "other")]


# --------------------------------------------------------------------------- figure fonts

MIN_FONT_SIZE = 10  # CONVENTIONS.md: "no `fontsize` below 10" (ibcore.viz's style sets 10.5-13)
_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
# sizes matplotlib names, relative to the style's font.size of 12: below 10 are x-small, xx-small
_NAMED_BELOW = r"""["'](xx-small|x-small)["']"""
_FONT_SIZE_PATTERNS = [
    # keyword arguments: fontsize=8, labelsize=8, title_fontsize=8, titlesize=8
    re.compile(rf"(?<![\w.])(?:fontsize|labelsize|title_fontsize|titlesize)\s*=\s*"
               rf"(?:{_NUM}|{_NAMED_BELOW})"),
    # dict keys and rcParams: {"fontsize": 8}, "legend.fontsize": 8, "font.size": 8
    re.compile(rf"""["'](?:[\w]+\.)?(?:fontsize|labelsize|title_fontsize|titlesize)["']\s*:\s*"""
               rf"(?:{_NUM}|{_NAMED_BELOW})"),
    re.compile(rf"""["']font\.size["']\s*[:\]]\s*=?\s*(?:{_NUM}|{_NAMED_BELOW})"""),
    re.compile(rf"""rcParams\[\s*["'][\w.]*size["']\s*\]\s*=\s*(?:{_NUM}|{_NAMED_BELOW})"""),
    # setters: text.set_fontsize(8)
    re.compile(rf"\.set_fontsize\(\s*(?:{_NUM}|{_NAMED_BELOW})"),
]
# prop={"size": 8} or prop=dict(size=8) (a legend's font properties)
_PROP = re.compile(r"\bprop\s*=\s*(\{[^}]*\}|dict\([^)]*\))")
_PROP_SIZE = re.compile(rf"""(?:["']size["']\s*:|(?<![\w.])size\s*=)\s*(?:{_NUM}|{_NAMED_BELOW})""")


def _font_size_values(line):
    """Every (text, value) of a font size set on one line of code; named sizes give their name."""
    found = []
    for pat in _FONT_SIZE_PATTERNS:
        found += [(m.group(0), m.group(1) or m.group(2)) for m in pat.finditer(line)]
    for prop in _PROP.finditer(line):
        found += [(m.group(0), m.group(1) or m.group(2))
                  for m in _PROP_SIZE.finditer(prop.group(1))]
    return found


def _without_comments(src):
    """The source with its comments blanked (line numbers kept); as is if it does not tokenize."""
    import io
    import tokenize

    lines = src.splitlines()
    try:
        comments = [t for t in tokenize.generate_tokens(io.StringIO(src).readline)
                    if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):
        return src
    for t in reversed(comments):
        (row, col), (_, end) = t.start, t.end
        lines[row - 1] = lines[row - 1][:col] + " " * (end - col) + lines[row - 1][end:]
    return "\n".join(lines)


def _below(value):
    return not value.replace(".", "", 1).isdigit() or float(value) < MIN_FONT_SIZE


def small_font_sizes(nb):
    """(cell index, line number, code, value) of every font size below MIN_FONT_SIZE that a code
    cell of the notebook dict ``nb`` sets; cell index counts all cells from 0, lines from 1."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = _without_comments("".join(cell["source"]))
        for n, line in enumerate(src.splitlines(), 1):
            out += [(i, n, text, value) for text, value in _font_size_values(line)
                    if _below(value)]
        for m in _PROP.finditer(src):  # prop={...} spread over several lines
            if "\n" in m.group(1):
                n = src[:m.start()].count("\n") + 1
                for pm in _PROP_SIZE.finditer(m.group(1)):
                    value = pm.group(1) or pm.group(2)
                    if _below(value):
                        out.append((i, n, pm.group(0), value))
    return out


def test_small_font_sizes_finds_every_form():
    def nb(*sources):
        cells = [{"cell_type": "markdown", "source": "fontsize=6 in prose is not code"}]
        return {"cells": cells + [{"cell_type": "code", "source": s} for s in sources]}

    bad = nb(
        'ax.legend(fontsize=6.5, loc="upper left")\n',
        ["ax.tick_params(labelsize=9)\n", "ax.set_title('t', fontsize=11)\n"],
        'ax.legend(title="k", title_fontsize=8)\n'
        'ax.legend(prop={"size": 7})\n'
        "ax.legend(prop=dict(size=9.5, weight='bold'))\n"
        'plt.rcParams.update({"legend.fontsize": 8, "font.size": 9})\n'
        'plt.rcParams["xtick.labelsize"] = 7\n'
        'ax.text(0, 0, "x", fontsize="x-small")\n'
        "lab.set_fontsize(8)\n",
        'ax.legend(\n    prop={\n        "size": 9,\n    },\n)\n',
        'ax.text(0, 0, "#1", color="#333", fontsize=8)  # a colour is not a comment\n',
    )
    found = small_font_sizes(bad)
    assert [(i, n, v) for i, n, _, v in found] == [
        (1, 1, "6.5"), (2, 1, "9"), (3, 1, "8"), (3, 2, "7"), (3, 3, "9.5"), (3, 4, "8"),
        (3, 4, "9"), (3, 5, "7"), (3, 6, "x-small"), (3, 7, "8"), (4, 2, "9"), (5, 1, "8")]
    good = nb(
        "ax.legend(fontsize=10)\nax.tick_params(labelsize=10.5)\n",
        'ax.plot(x, ms=3, markersize=4)\nrng.normal(size=3)\nax.scatter(x, y, s=5)\n',
        'ax.legend(prop={"size": 12})\nax.set_title("t", fontsize=11)  # fontsize=6 in a comment\n',
        'ax.text(0, 0, "x", fontsize="small")\n',
    )
    assert small_font_sizes(good) == []


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name in ("posts", "monograph")],
                         ids=lambda p: p.name)
def test_figure_fonts_are_at_least_10(path):
    found = small_font_sizes(json.loads(path.read_text()))
    where = "; ".join(f"cell {i} line {n}: {text} ({value})" for i, n, text, value in found)
    assert not found, f"{path.name}: font sizes below {MIN_FONT_SIZE} (CONVENTIONS.md): {where}"

"""Rewrite a notebook's first cell from the old install form to the current one (in place).

The old form installed ibcore from ``git+{REPO_URL}`` only. The current form (book/CONVENTIONS.md)
reads the install source from the environment variable ``IBCORE_SOURCE`` when it is set (a local
checkout, a wheel, another fork: whatever ``pip install`` accepts) and falls back to the
repository, so the Colab path can be tested without the network (``make colab-check``)::

    import importlib.util
    import os
    import subprocess
    import sys

    REPO_URL = "https://github.com/inductive-biases/inductive-biases-book"
    SOURCE = os.environ.get("IBCORE_SOURCE", f"git+{REPO_URL}")
    if importlib.util.find_spec("ibcore") is None:
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        subprocess.check_call([*pip, SOURCE])

Extra pinned packages on the pip line stay as they are
(``[*pip, f"git+{REPO_URL}", "rdkit==..."]`` becomes ``[*pip, SOURCE, "rdkit==..."]``).
A notebook already in the current form is left unchanged, so the script can run on every notebook.

Usage: python _ext/first_cell.py [NOTEBOOK ...]   (default: every book/**/*.ipynb)
Exit status 1 when a notebook's first code cell is in neither form.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_SOURCE = 'f"git+{REPO_URL}"'
SOURCE_LINE = 'SOURCE = os.environ.get("IBCORE_SOURCE", f"git+{REPO_URL}")\n'


def rewrite_source(src: str) -> str:
    """The first cell's source in the current form (unchanged if it already is)."""
    lines = src.splitlines(keepends=True)
    if any(line.startswith("SOURCE = ") for line in lines):
        return src
    out = []
    for line in lines:
        if line.startswith("import subprocess") and "import os\n" not in out:
            out.append("import os\n")
        if "check_call(" in line and OLD_SOURCE in line:
            line = line.replace(OLD_SOURCE, "SOURCE", 1)
        out.append(line)
        if line.startswith("REPO_URL = "):
            out.append(SOURCE_LINE)
    new = "".join(out)
    if "import os\n" not in new or SOURCE_LINE not in new or "*pip, SOURCE" not in new:
        raise ValueError("first_cell: the first code cell is not in the old install form "
                         "(import subprocess, REPO_URL = ..., check_call([*pip, f\"git+{REPO_URL}\""
                         "...]))")
    return new


def rewrite_notebook(path: Path) -> bool:
    """Rewrite ``path`` in place; True if it changed. Raises ValueError (naming the file)."""
    text = path.read_text()
    nb = json.loads(text)
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(cell["source"])
    try:
        new = rewrite_source(src)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if new == src:
        return False
    cell["source"] = new.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(
        p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    status = 0
    for path in paths:
        try:
            changed = rewrite_notebook(path)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        print(f"{'rewrote' if changed else 'current'}: {path}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

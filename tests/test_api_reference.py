"""The API reference (book/appendix/api.md) documents every public module of ibcore.

The page lists one ``automodule`` per module, grouped as the library is. A module added to ibcore
fails ``test_every_public_module_is_in_the_api_reference`` until its entry is on the page; the
message gives the lines to paste under the module's group.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
from pathlib import Path

import ibcore

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "appendix" / "api.md"
ENTRY = re.compile(r"^\.\. automodule:: (\S+)\n((?:   :[\w-]+:.*\n)*)", re.M)


def public_modules() -> list[str]:
    """ibcore and every submodule whose dotted name has no part starting with an underscore."""
    names = ["ibcore"]
    for info in pkgutil.walk_packages(ibcore.__path__, "ibcore."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def documented() -> dict[str, str]:
    """module name -> its option lines, for every automodule entry of the page."""
    return {m.group(1): m.group(2) for m in ENTRY.finditer(API.read_text())}


def _load_ib_book():
    spec = importlib.util.spec_from_file_location("ib_book", ROOT / "_ext" / "ib_book.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    return ext


def test_every_public_module_is_in_the_api_reference():
    missing = [m for m in public_modules() if m not in documented()]
    paste = "\n".join(f"### `{m}`\n\n```{{eval-rst}}\n.. automodule:: {m}\n   :members:\n```\n"
                      for m in missing)
    assert not missing, (
        f"public module(s) {missing} missing from {API.relative_to(ROOT)}; add under the "
        f"module's group (a package that only re-exports takes :no-members: instead):\n{paste}")


def test_the_api_reference_names_only_existing_modules_once():
    text = API.read_text()
    names = ENTRY.findall(text)
    assert names, "no automodule entries found"
    listed = [n for n, _ in names]
    assert len(listed) == len(set(listed)), sorted(n for n in listed if listed.count(n) > 1)
    stale = sorted(set(listed) - set(public_modules()))
    assert not stale, f"{API.name} documents modules that do not exist: {stale}"


def test_reexporting_packages_document_no_members():
    """A package re-exports its submodules' objects; documenting them there as well would be a
    second description of each (a warning, so a failed strict build)."""
    for name, options in documented().items():
        spec = importlib.util.find_spec(name)
        if spec.submodule_search_locations is not None or name == "ibcore.functional":
            assert ":no-members:" in options, f"{name}: a re-exporting module needs :no-members:"
        else:
            assert ":members:" in options, f"{name}: document its members (:members:)"


def test_chapter_names_resolve_to_the_defining_module():
    ext = _load_ib_book()
    assert ext.canonical_name("F.cross_entropy") == "ibcore.ops.loss.cross_entropy"
    assert ext.canonical_name("ib.nn.Linear") == "ibcore.nn.modules.Linear"
    assert ext.canonical_name("nn.Linear") == "ibcore.nn.modules.Linear"
    assert ext.canonical_name("ibcore.functional.softmax") == "ibcore.ops.reduce.softmax"
    assert ext.canonical_name("ib.Tensor.backward") == "ibcore.tensor.Tensor.backward"
    assert ext.canonical_name("ibcore.probes") == "ibcore.probes"
    assert ext.canonical_name("ib.no_such_name") is None
    assert ext.canonical_name("numpy.exp") is None

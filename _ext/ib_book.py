"""Sphinx extension of the book (loaded from _config.yml's ``sphinx.local_extensions``).

* **Numbers within a chapter.** Sphinx numbers figures, tables and sphinx-exercise's exercises
  across the whole book. A chapter is ``book/posts/NN-*`` (Post NN) or ``book/monograph/NN-*``
  (Chapter NN); here every numbered item of a chapter is renumbered ``NN.k`` in document order
  ("Figure 2.1", "Exercise 2.3"), and references ({numref}, solutions) follow. Pages that are not
  chapters (intro, part pages) keep plain numbers ``k``.
* **No unused widget state.** Interactive figures are shown in the HTML book by their static
  scrubber, so the kernels that execute the notebooks are asked (``IBCORE_WIDGETS=static``, which
  they inherit from this process) to leave the live ipywidgets view out: no widget state is
  stored in the notebooks or written into the pages.
* **A valid colour mode.** The theme's default mode is "auto" (light or dark as the reader's
  system says) instead of an empty string that its script reports as an error.
* **The print edition (LaTeX builder only).** Check cells (tag ``check``) are left out of the
  PDF, and so are the inputs of folded cells (``hide-input``, ``hide-cell``: setup, plotting,
  glue): on paper nothing unfolds, so the PDF shows what the HTML page shows before a click.
  The HTML book is unchanged.
* **Links into the API reference.** ``{py:func}`F.cross_entropy` `` and
  ``{py:class}`ib.nn.Linear` `` (the names the chapters use: ``F.``, ``ib.``, ``nn.``,
  ``probes.``, ``heads.``, ``optim.``, ``data.`` and any re-exported ``ibcore.`` path) resolve
  to the entry of ``book/appendix/api.md``, which documents each object once, in the module
  that defines it.
* **Each script once.** sphinx-thebe registers its configuration script once per build in a way
  that Sphinx writes into every page twice (a ``const`` declared twice: a console error); scripts
  with the same source and body are written once.
"""

from __future__ import annotations

import os
import re

CHAPTER = re.compile(r"^book/(posts|monograph)/(\d\d)-[^/]+$")


def chapter_number(docname: str) -> int | None:
    """The chapter number of a page: NN of ``book/posts/NN-*`` or ``book/monograph/NN-*``."""
    m = CHAPTER.match(docname)
    return int(m.group(2)) if m else None


def renumber_within_chapters(app, env):
    """Replace the book-wide numbers of every figure type by (chapter, k), k counted per page."""
    changed = []
    for docname, types in env.toc_fignumbers.items():
        chap = chapter_number(docname)
        before = {t: dict(ids) for t, ids in types.items()}
        for ids in types.values():
            ordered = sorted(ids, key=ids.__getitem__)  # Sphinx numbers in document order
            for k, node_id in enumerate(ordered, start=1):
                ids[node_id] = (chap, k) if chap is not None else (k,)
        if types != before:
            changed.append(docname)
    return changed


def static_widgets(app, config):
    os.environ["IBCORE_WIDGETS"] = "static"
    os.environ["IBCORE_FIGURE_PDF"] = "1"  # figures also as vector PDF (the LaTeX builder's pick)


def theme_mode(app, config):
    """Give the theme a valid default colour mode: without one, pydata-sphinx-theme's script
    reads the empty string, logs "Got invalid theme mode" (a console error) and resets to auto."""
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")  # a template variable of the theme's layout
    config.html_context = context


def dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for js in scripts:
        attrs = getattr(js, "attributes", {})
        # an inline script is registered twice, once with filename None and once with ""
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique


def _classes(node) -> set[str]:
    return set(node.get("classes", []))


def print_edition(app, doctree, docname):
    """In the LaTeX builder only: drop check cells, and the inputs of folded cells; number the
    chapters as the book does (Post NN and monograph chapter NN are chapter NN, so "Figure 2.3"
    and "Exercise 2.1" agree), part pages unnumbered."""
    if app.builder.format != "latex":
        return
    from docutils import nodes
    from sphinx import addnodes

    for start in doctree.findall(addnodes.start_of_file):
        name = start.get("docname", "")
        chap = chapter_number(name)
        if chap is not None:
            tex = (r"\ifdefined\ibsecnumdepth\setcounter{secnumdepth}{\ibsecnumdepth}\fi"
                   rf"\setcounter{{chapter}}{{{chap - 1}}}")
        elif re.match(r"^book/monograph/part-", name) or name.startswith("book/appendix/"):
            # a part page: a chapter without a number (secnumdepth -1), listed in the contents
            tex = (r"\ifdefined\ibsecnumdepth\else\edef\ibsecnumdepth{\arabic{secnumdepth}}\fi"
                   r"\setcounter{secnumdepth}{-1}")
        else:
            continue
        start.insert(0, nodes.raw("", tex + "\n", format="latex"))

    for cell in list(doctree.findall(nodes.container)):
        if cell.get("nb_element") != "cell_code" or cell.parent is None:
            continue
        tags = _classes(cell)
        if "tag_check" in tags:
            cell.parent.remove(cell)
            continue
        if tags & {"tag_hide-input", "tag_hide-cell"}:
            for part in list(cell.findall(nodes.container)):
                if part.get("nb_element") == "cell_code_source" and part.parent is not None:
                    part.parent.remove(part)


#: the short names the chapters use for ibcore's namespaces
ALIASES = (("F.", "ibcore.functional."), ("ib.", "ibcore."), ("nn.", "ibcore.nn."),
           ("probes.", "ibcore.probes."), ("heads.", "ibcore.heads."),
           ("optim.", "ibcore.optim."), ("data.", "ibcore.data."))


def canonical_name(target: str) -> str | None:
    """``module.qualname`` of the ibcore object ``target`` names (through any re-export), or
    None when ``target`` names no ibcore object. ``F.cross_entropy`` ->
    ``ibcore.ops.loss.cross_entropy``; ``ib.nn.Linear`` -> ``ibcore.nn.modules.Linear``."""
    import importlib
    import inspect

    for short, full in ALIASES:
        if target.startswith(short):
            target = full + target[len(short):]
            break
    if not target.startswith("ibcore"):
        return None
    parts = target.split(".")
    obj = None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        break
    if obj is None:
        return None
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname:
        return None
    return f"{module}.{qualname}"


def resolve_ibcore_aliases(app, env, node, contnode):
    """Resolve a Python reference through ibcore's re-exports to the object's own entry."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    canonical = canonical_name(target)
    if canonical is None or canonical == target:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", canonical, node,
                               contnode)


def setup(app):
    app.connect("config-inited", static_widgets)
    app.connect("config-inited", theme_mode, priority=900)
    app.connect("env-get-updated", renumber_within_chapters, priority=900)
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", dedupe_scripts, priority=100)
    app.connect("doctree-resolved", print_edition)
    app.connect("missing-reference", resolve_ibcore_aliases)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}

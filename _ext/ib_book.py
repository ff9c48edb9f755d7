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


def setup(app):
    app.connect("config-inited", static_widgets)
    app.connect("config-inited", theme_mode, priority=900)
    app.connect("env-get-updated", renumber_within_chapters, priority=900)
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", dedupe_scripts, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}

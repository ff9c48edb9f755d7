"""Interactive figures that work live in Jupyter and still respond in the static HTML book.

Every chapter builds its interactive figures with :func:`interactive_figure`. The chapter writes
one ``render(**params)`` function that draws a matplotlib figure for one setting of the controls;
the helper then gives that figure three lives:

1. **Static scrubber** (:meth:`InteractiveFigure.to_html`). At construction time ``render`` is
   called once per combination of control values and each figure is saved as a PNG (at twice
   the display resolution, as a 128-colour palette PNG: sharp and small). The HTML
   fragment holds all frames as base64 data URIs, one ``<input type="range">`` per control and a
   few lines of inline JavaScript that swap the image when a control moves. It needs no kernel,
   no CDN and no external file, so it keeps working in the built book.
2. **Live widget** (:meth:`InteractiveFigure.live`). An ``ipywidgets`` ``VBox`` of
   ``SelectionSlider`` controls above an ``Output``; each change calls ``render`` again with the
   new values (so a chapter can retrain when that is cheap).
3. **Notebook display** (:meth:`InteractiveFigure._repr_mimebundle_`). Displaying the object
   offers both: the static scrubber as ``text/html`` and, inside a kernel with ``ipywidgets``
   importable, the live widget as ``application/vnd.jupyter.widget-view+json``. A front end
   with a widget manager shows the live widget; anything else falls back to the scrubber.

Example::

    from ibcore.widgets import interactive_figure

    def render(width, step):
        fig, ax = plt.subplots(figsize=(4, 3.5))
        ...
        return fig

    w = interactive_figure(render, {"width": [1, 2, 4, 8], "step": [0, 100, 1000]},
                           labels={"width": "hidden width"}, dpi=80)
    w

``ipywidgets`` is optional: this module imports without it, and only :meth:`live` needs it.

Setting the environment variable ``IBCORE_WIDGETS=static`` leaves the live widget out of the
notebook display even inside a kernel (for example while the book is built, so that no ipywidgets
state is stored in the executed notebooks). The HTML book must in any case tell myst-nb to prefer
``text/html`` over the widget view; see ``nb_mime_priority_overrides`` in ``_config.yml``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import numbers
import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["MAX_FRAMES", "InteractiveFigure", "interactive_figure"]

#: Default upper bound on the number of precomputed frames (the size of the Cartesian product of
#: all control values). Each frame is a PNG embedded in the page, so 400 frames of a small figure
#: is already a few megabytes of HTML.
MAX_FRAMES = 400

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_instance_counter = itertools.count()

# One scrubber per <div>. The script binds every not-yet-bound element carrying this id (so a
# fragment displayed twice on one page still works) and swaps the <img> src on each `input`
# event. `frames` maps the control indices joined with "," to an index into `images`, so frames
# that happen to be identical are stored once.
_SCRIPT = """(function () {
  var spec = %(spec)s;
  function bind(root) {
    if (root.getAttribute("data-ib-bound") === "1") { return; }
    root.setAttribute("data-ib-bound", "1");
    var img = root.querySelector("img.ib-scrubber-img");
    var inputs = root.querySelectorAll("input.ib-scrubber-input");
    var outputs = root.querySelectorAll("output.ib-scrubber-value");
    function update() {
      var idx = [];
      for (var k = 0; k < inputs.length; k++) {
        var n = spec.controls[k].values.length;
        var i = parseInt(inputs[k].value, 10);
        if (!(i >= 0)) { i = 0; }
        if (i > n - 1) { i = n - 1; }
        idx.push(i);
        var text = spec.controls[k].values[i];
        outputs[k].textContent = text;
        inputs[k].setAttribute("aria-valuetext", text);
      }
      var key = idx.join(",");
      var f = spec.frames[key];
      if (f === undefined) { return; }
      if (img.getAttribute("data-frame") !== key) {
        img.src = "data:image/png;base64," + spec.images[f];
        img.setAttribute("data-frame", key);
      }
    }
    for (var k = 0; k < inputs.length; k++) {
      inputs[k].addEventListener("input", update);
      inputs[k].addEventListener("change", update);
    }
    update();
  }
  var roots = document.querySelectorAll('[id="' + spec.id + '"]');
  for (var r = 0; r < roots.length; r++) { bind(roots[r]); }
})();"""

_STYLE = "max-width:100%;box-sizing:border-box;margin:0.5em 0;font-family:inherit;overflow:hidden"
_IMG_STYLE = "display:block;max-width:100%;height:auto;margin:0"
_INPUT_STYLE = "width:100%;min-width:0;margin:0"
# the value label is as wide as its longest value, so the slider does not resize as it changes
_VALUE_STYLE = "display:inline-block;min-width:%sch;font-variant-numeric:tabular-nums"
# One row per control: label, slider, value on one line; on a narrow screen the label goes on
# its own line and the slider and its value share the next, so the value never wraps below the
# slider. The rules are scoped to the scrubber's classes and repeated in each fragment, so a
# fragment saved on its own still lays out the same.
_CSS = (
    ".ib-scrubber-row{display:grid;grid-template-columns:minmax(0,max-content) "
    "minmax(6em,24em) max-content;align-items:center;gap:0.25em 0.75em;margin:0.2em 0}"
    ".ib-scrubber-label{min-width:var(--ib-label-width,0)}"
    "@media (max-width:560px){.ib-scrubber-row{grid-template-columns:minmax(0,1fr) "
    "max-content}.ib-scrubber-label{grid-column:1/-1;min-width:0}}"
)


def _value_text(value: Any) -> str:
    """The text shown for one control value (numpy scalars shown like Python numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _json_for_script(obj: Any) -> str:
    """JSON that is safe to inline inside a ``<script>`` element."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in params.items())


def _check_controls(controls: Any) -> dict[str, tuple[Any, ...]]:
    """Validate ``controls`` and return it as a dict of name -> tuple of values."""
    if not isinstance(controls, Mapping):
        raise TypeError(
            "controls must be a mapping from parameter name to a sequence of values, "
            f"e.g. {{'width': [1, 2, 4]}}; got {type(controls).__name__}"
        )
    if len(controls) == 0:
        raise ValueError("controls is empty: give at least one control, e.g. {'width': [1, 2, 4]}")
    checked: dict[str, tuple[Any, ...]] = {}
    for name, values in controls.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"control name {name!r} is not a valid Python identifier; control names are "
                "passed to render as keyword arguments"
            )
        if isinstance(values, (str, bytes)) or isinstance(values, Mapping):
            raise TypeError(
                f"control {name!r} must be a sequence of values, got {type(values).__name__} "
                f"{values!r}; to offer a single value write [{values!r}]"
            )
        if not isinstance(values, Iterable):
            raise TypeError(
                f"control {name!r} must be a sequence of values, got {type(values).__name__}"
            )
        vals = tuple(values)
        if len(vals) == 0:
            raise ValueError(f"control {name!r} has an empty list of values; give at least one")
        for v in vals:
            if isinstance(v, (bytes, complex)) or not isinstance(v, (str, numbers.Number)):
                raise TypeError(
                    f"control {name!r} has value {v!r} of type {type(v).__name__}; "
                    "values must be real numbers or strings"
                )
            if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):
                if math.isnan(float(v)):
                    raise ValueError(f"control {name!r} has a NaN value; NaN cannot be selected")
        seen: list[Any] = []
        dups: list[Any] = []
        for v in vals:
            if v in seen and v not in dups:
                dups.append(v)
            seen.append(v)
        if dups:
            raise ValueError(
                f"control {name!r} has duplicate values {dups!r} in {list(vals)!r}; "
                "each value must appear once (note 1 == 1.0 == True)"
            )
        checked[name] = vals
    return checked


def _figure_to_png(fig: Figure, dpi: float, colors: int | None = None) -> bytes:
    """Save ``fig`` as PNG at ``dpi``; with ``colors``, as a palette PNG of that many colours.

    A palette PNG of a plot (flat colours, antialiased lines and text) is a third to a quarter
    of the size of the RGBA one and looks the same: matplotlib draws few distinct colours.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if colors is None:
        return buf.getvalue()
    from .viz import quantize_png

    return quantize_png(buf.getvalue(), colors)


def _changed_fraction(a: bytes, b: bytes) -> float:
    """The fraction of pixels that differ between two PNGs (1.0 when their sizes differ)."""
    from PIL import Image

    with Image.open(io.BytesIO(a)) as ia, Image.open(io.BytesIO(b)) as ib_:
        if ia.size != ib_.size:
            return 1.0
        x = np.asarray(ia.convert("RGB"), dtype=np.int16)
        y = np.asarray(ib_.convert("RGB"), dtype=np.int16)
    return float(np.mean(np.any(np.abs(x - y) > 8, axis=-1)))


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, read from the PNG header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _render_png(render: Callable[..., Any], params: dict[str, Any], dpi: float,
                colors: int | None = None) -> bytes:
    """Call ``render(**params)``, save the figure it returns as PNG and close every new figure."""
    before = set(plt.get_fignums())
    fig = None
    try:
        fig = render(**params)
        if not isinstance(fig, Figure):
            raise ValueError(
                f"render({_format_params(params)}) returned {type(fig).__name__}, not a "
                "matplotlib.figure.Figure; end render with `return fig` "
                "(e.g. fig, ax = plt.subplots(); ...; return fig)"
            )
        return _figure_to_png(fig, dpi, colors)
    finally:
        for num in sorted(set(plt.get_fignums()) - before):
            plt.close(num)
        if isinstance(fig, Figure):
            plt.close(fig)


def _live_display_enabled() -> bool:
    """False when ``IBCORE_WIDGETS=static`` asks for the static scrubber only."""
    return os.environ.get("IBCORE_WIDGETS", "").strip().lower() != "static"


def _in_kernel() -> bool:
    """True inside an IPython kernel (Jupyter, Colab, VS Code, nbclient), False elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class InteractiveFigure:
    """A figure with controls: a static HTML scrubber plus an optional live ipywidgets view.

    Build it with :func:`interactive_figure` (same arguments). All frames are rendered when the
    object is created.

    Attributes:
        render: the function ``render(**params) -> matplotlib.figure.Figure``.
        controls: ``dict[str, tuple]``, control name -> the values it offers, in order.
        labels: ``dict[str, str]``, control name -> the label shown next to it.
        initial: ``dict[str, value]``, the value each control starts at.
        dpi: CSS pixels per inch of the figure on the page; the frames are saved at
            ``dpi * scale`` pixels per inch.
        scale, colors, min_change: see :func:`interactive_figure`.
        dropped: the combinations whose near-identical frame was replaced by the one before.
        description: the optional caption (plain text), or ``None``.
        frames: ``dict[tuple, bytes]``, one entry per combination of control values (a tuple in
            the order of ``controls``) -> the PNG bytes of ``render`` at those values.
    """

    def __init__(
        self,
        render: Callable[..., Figure],
        controls: Mapping[str, Iterable[Any]],
        *,
        labels: Mapping[str, str] | None = None,
        dpi: float = 80,
        description: str | None = None,
        initial: Mapping[str, Any] | None = None,
        max_frames: int = MAX_FRAMES,
        scale: float = 2,
        colors: int | None = 128,
        min_change: float = 0.0,
    ) -> None:
        if not callable(render):
            raise TypeError(f"render must be callable, got {type(render).__name__}")
        self.render = render
        self.controls = _check_controls(controls)

        labels = dict(labels or {})
        unknown = [k for k in labels if k not in self.controls]
        if unknown:
            raise ValueError(
                f"labels given for unknown controls {unknown!r}; controls are "
                f"{list(self.controls)!r}"
            )
        self.labels = {name: str(labels.get(name, name)) for name in self.controls}

        initial = dict(initial or {})
        unknown = [k for k in initial if k not in self.controls]
        if unknown:
            raise ValueError(
                f"initial given for unknown controls {unknown!r}; controls are "
                f"{list(self.controls)!r}"
            )
        for name, value in initial.items():
            if value not in self.controls[name]:
                raise ValueError(
                    f"initial value {value!r} for control {name!r} is not one of its values "
                    f"{list(self.controls[name])!r}"
                )
        self.initial = {
            name: next(v for v in vals if v == initial[name]) if name in initial else vals[0]
            for name, vals in self.controls.items()
        }

        if not (isinstance(dpi, numbers.Real) and dpi > 0):
            raise ValueError(f"dpi must be a positive number, got {dpi!r}")
        self.dpi = dpi
        if not (isinstance(scale, numbers.Real) and scale >= 1):
            raise ValueError(f"scale must be a number >= 1, got {scale!r}")
        self.scale = scale
        if colors is not None and not (isinstance(colors, numbers.Integral) and 2 <= colors <= 256):
            raise ValueError(f"colors must be an integer from 2 to 256 or None, got {colors!r}")
        self.colors = None if colors is None else int(colors)
        if not (isinstance(min_change, numbers.Real) and 0 <= min_change < 1):
            raise ValueError(f"min_change must be a fraction in [0, 1), got {min_change!r}")
        self.min_change = float(min_change)
        self.description = None if description is None else str(description)

        n_frames = math.prod(len(v) for v in self.controls.values())
        if n_frames > max_frames:
            sizes = " x ".join(f"{len(v)} ({k})" for k, v in self.controls.items())
            raise ValueError(
                f"too many frames: {sizes} = {n_frames} combinations, more than the limit of "
                f"{max_frames}; use fewer values per control (or raise max_frames)"
            )

        names = list(self.controls)
        self.frames: dict[tuple[Any, ...], bytes] = {}
        self.dropped: list[tuple[Any, ...]] = []
        last = names[-1]
        for combo in itertools.product(*self.controls.values()):
            png = self._png(dict(zip(names, combo, strict=True)))
            k = self.controls[last].index(combo[-1])
            if self.min_change > 0 and k > 0:
                prev = self.frames[combo[:-1] + (self.controls[last][k - 1],)]
                if prev != png and _changed_fraction(prev, png) < self.min_change:
                    png = prev  # near-identical to the frame before it: show that one
                    self.dropped.append(combo)
            self.frames[combo] = png
        self._live_widget: Any = None

    def _png(self, params: dict[str, Any]) -> bytes:
        """One frame: ``render(**params)`` at ``dpi * scale`` pixels per inch, quantised."""
        return _render_png(self.render, params, self.dpi * self.scale, self.colors)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of the figure on the page in CSS pixels: the frame size / scale."""
        w, h = _png_size(next(iter(self.frames.values())))
        return round(w / self.scale), round(h / self.scale)

    def print_pdf(self) -> bytes:
        """The initial frame as vector PDF, for print: ``render`` at :attr:`initial` with a line
        under the figure naming the controls that the HTML edition (and Jupyter) offers."""
        before = set(plt.get_fignums())
        fig = None
        try:
            fig = self.render(**self.initial)
            if not isinstance(fig, Figure):
                raise ValueError(f"render({_format_params(self.initial)}) returned "
                                 f"{type(fig).__name__}, not a matplotlib.figure.Figure")
            shown = ", ".join(f"{self.labels[n]} = {_value_text(v)}"
                              for n, v in self.initial.items())
            fig.text(0.5, 0.0, f"Shown at {shown}; the HTML edition has the "
                     f"control{'s' if len(self.controls) > 1 else ''}.",
                     ha="center", va="top", fontsize=10, style="italic")
            buf = io.BytesIO()
            fig.savefig(buf, format="pdf", bbox_inches="tight")
            return buf.getvalue()
        finally:
            for num in sorted(set(plt.get_fignums()) - before):
                plt.close(num)
            if isinstance(fig, Figure):
                plt.close(fig)

    # ----------------------------------------------------------------- static path
    def _spec(self, element_id: str) -> dict[str, Any]:
        """The JSON the scrubber script reads: controls, deduplicated images, frame lookup."""
        images: list[str] = []
        index_of: dict[bytes, int] = {}
        frames: dict[str, int] = {}
        ranges = [range(len(v)) for v in self.controls.values()]
        for idx, png in zip(itertools.product(*ranges), self.frames.values(), strict=True):
            if png not in index_of:
                index_of[png] = len(images)
                images.append(base64.b64encode(png).decode("ascii"))
            frames[",".join(map(str, idx))] = index_of[png]
        return {
            "id": element_id,
            "controls": [
                {"name": n, "label": self.labels[n], "values": [_value_text(v) for v in vals]}
                for n, vals in self.controls.items()
            ],
            "images": images,
            "frames": frames,
        }

    def _initial_index(self) -> tuple[int, ...]:
        return tuple(
            next(i for i, v in enumerate(vals) if v == self.initial[name])
            for name, vals in self.controls.items()
        )

    def _element_id(self) -> str:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(repr(sorted(self.labels.items())).encode())
        for png in self.frames.values():
            digest.update(png)
        return f"ib-scrubber-{digest.hexdigest()[:10]}-{next(_instance_counter)}"

    def to_html(self) -> str:
        """Return the static scrubber as a self-contained HTML fragment.

        Returns:
            str: one ``<div class="ib-scrubber" id="ib-scrubber-...">`` holding one
            ``<input type="range" class="ib-scrubber-input" data-control=NAME>`` per control
            (with a ``<label>`` and an ``<output class="ib-scrubber-value">`` showing the
            current value), one ``<img class="ib-scrubber-img">`` showing the current frame as
            a base64 PNG, the optional ``<figcaption>``, and an inline ``<script>`` holding all
            frames. No external resources are referenced. The id is unique per call (a content
            hash plus a per-process counter), so output is deterministic for a deterministic
            sequence of calls.
        """
        element_id = self._element_id()
        spec = self._spec(element_id)
        start = self._initial_index()
        start_key = ",".join(map(str, start))
        start_src = "data:image/png;base64," + spec["images"][spec["frames"][start_key]]
        esc = html.escape
        alt = esc(self.description or "interactive figure: " + ", ".join(self.labels.values()))

        # labels share one minimum width (capped) so that the sliders line up
        label_width = min(16, max(len(t) for t in self.labels.values()))
        rows = []
        for k, (name, vals) in enumerate(self.controls.items()):
            input_id = f"{element_id}-{name}"
            text = _value_text(vals[start[k]])
            value_style = _VALUE_STYLE % min(24, max(len(_value_text(v)) for v in vals))
            rows.append(
                '<div class="ib-scrubber-row">'
                f'<label class="ib-scrubber-label" for="{esc(input_id)}" '
                f'data-control="{esc(name)}">{esc(self.labels[name])}</label>'
                f'<input type="range" class="ib-scrubber-input" id="{esc(input_id)}" '
                f'data-control="{esc(name)}" min="0" max="{len(vals) - 1}" step="1" '
                f'value="{start[k]}" aria-valuetext="{esc(text)}" autocomplete="off" '
                f'style="{_INPUT_STYLE}">'
                f'<output class="ib-scrubber-value" for="{esc(input_id)}" '
                f'data-control="{esc(name)}" style="{value_style}">{esc(text)}</output>'
                "</div>"
            )
        caption = (
            f'<figcaption class="ib-scrubber-caption">{esc(self.description)}</figcaption>'
            if self.description
            else ""
        )
        width, height = self.display_size
        return (
            f'<div class="ib-scrubber" id="{element_id}" '
            f'style="{_STYLE};--ib-label-width:{label_width}ch">'
            f"<style>{_CSS}</style>"
            '<figure class="ib-scrubber-figure" style="margin:0;max-width:100%">'
            f'<img class="ib-scrubber-img" src="{start_src}" data-frame="{start_key}" '
            f'width="{width}" height="{height}" alt="{alt}" style="{_IMG_STYLE}">'
            f'<div class="ib-scrubber-controls">{"".join(rows)}</div>'
            f"{caption}</figure>"
            f"<script>{_SCRIPT % {'spec': _json_for_script(spec)}}</script>"
            "</div>"
        )

    def save_html(self, path: str | os.PathLike[str], title: str | None = None) -> str:
        """Write the scrubber as a standalone HTML page (UTF-8) and return the path written.

        Args:
            path: file to write (overwritten if it exists).
            title: the page ``<title>``; defaults to the description or "Interactive figure".

        Returns:
            str: ``path`` as a string.
        """
        page_title = html.escape(title or self.description or "Interactive figure")
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{page_title}</title>\n</head>\n<body>\n{self.to_html()}\n</body>\n</html>\n"
        )
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(page)
        return os.fspath(path)

    # ------------------------------------------------------------------- live path
    def live(self) -> Any:
        """Return a live ipywidgets view that recomputes the figure on every change.

        Returns:
            ipywidgets.VBox: children are one ``ipywidgets.SelectionSlider`` per control (in the
            order of ``controls``, starting at ``initial``), then an ``ipywidgets.Output``
            whose ``outputs`` hold the PNG of ``render(**params)`` for the current values. Each
            slider change calls ``render`` again with all current values
            (``continuous_update=False``: once the slider is released). If ``render`` raises,
            the traceback is shown in the ``Output`` instead of the figure. A new widget is
            built on every call.

        Raises:
            ImportError: if ipywidgets is not installed (``pip install ipywidgets``).
        """
        try:
            import ipywidgets as widgets
        except ImportError as exc:
            raise ImportError(
                "InteractiveFigure.live() needs ipywidgets; install it with "
                "`pip install ipywidgets` (the static scrubber, to_html(), works without it)"
            ) from exc

        sliders = {}
        for name, vals in self.controls.items():
            sliders[name] = widgets.SelectionSlider(
                options=[(_value_text(v), v) for v in vals],
                value=self.initial[name],
                description=self.labels[name],
                continuous_update=False,
                style={"description_width": "initial"},
                layout=widgets.Layout(width="min(100%, 32em)"),
            )
        out = widgets.Output()

        def refresh(change: Any = None) -> None:
            params = {name: s.value for name, s in sliders.items()}
            try:
                png = self._png(params)
            except Exception:  # shown to the reader instead of lost in the kernel log
                out.outputs = (
                    {
                        "output_type": "stream",
                        "name": "stderr",
                        "text": f"render({_format_params(params)}) failed:\n"
                        + traceback.format_exc(),
                    },
                )
                return
            out.outputs = (
                {
                    "output_type": "display_data",
                    "data": {
                        "image/png": base64.b64encode(png).decode("ascii"),
                        "text/plain": f"<Figure: {_format_params(params)}>",
                    },
                    "metadata": {"image/png": {"width": round(_png_size(png)[0] / self.scale)}},
                },
            )

        for s in sliders.values():
            s.observe(refresh, names="value")
        refresh()
        children = list(sliders.values()) + [out]
        if self.description:
            children.append(widgets.HTML(f"<em>{html.escape(self.description)}</em>"))
        box = widgets.VBox(children)
        box.add_class("ib-live")
        return box

    # ----------------------------------------------------------------- display
    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None, **kwargs
    ) -> dict[str, Any]:
        """MIME bundle for IPython's display machinery.

        Returns:
            dict: ``text/html`` (the static scrubber, :meth:`to_html`), ``image/png`` (the
            initial frame, base64, for outputs that cannot run scripts), with
            ``IBCORE_FIGURE_PDF=1`` ``application/pdf`` (:meth:`print_pdf`, base64: the
            initial frame in vector form and a line naming the controls, for the PDF edition),
            ``text/plain`` and, when running inside an IPython kernel with ipywidgets
            importable, also ``application/vnd.jupyter.widget-view+json`` for the live widget
            (built once per object and reused). Front ends with a widget manager show the live
            widget; others (and the HTML book, see the course ``_config.yml``) use
            ``text/html``. The widget view is left out when the environment variable
            ``IBCORE_WIDGETS`` is ``static``. ``include``/``exclude`` filter the MIME types as
            IPython specifies.
        """
        include = set(include) if include else None
        exclude = set(exclude or ())

        def wanted(mime: str) -> bool:
            return (include is None or mime in include) and mime not in exclude

        bundle: dict[str, Any] = {}
        if wanted("text/plain"):
            bundle["text/plain"] = repr(self)
        if wanted("text/html"):
            bundle["text/html"] = self.to_html()
        if wanted("image/png"):
            initial_png = self.frames[tuple(self.initial.values())]
            bundle["image/png"] = base64.b64encode(initial_png).decode("ascii")
        if wanted("application/pdf") and os.environ.get("IBCORE_FIGURE_PDF") == "1":
            bundle["application/pdf"] = base64.b64encode(self.print_pdf()).decode("ascii")
        if wanted(_WIDGET_MIME) and _live_display_enabled() and _in_kernel():
            try:
                import ipywidgets  # noqa: F401
            except ImportError:
                pass
            else:
                if self._live_widget is None:
                    self._live_widget = self.live()
                view = self._live_widget._repr_mimebundle_()
                if view and _WIDGET_MIME in view:
                    bundle[_WIDGET_MIME] = view[_WIDGET_MIME]
        return bundle

    def __repr__(self) -> str:
        controls = ", ".join(f"{k}={list(v)!r}" for k, v in self.controls.items())
        return f"<InteractiveFigure {controls} ({len(self.frames)} frames)>"


def interactive_figure(
    render: Callable[..., Figure],
    controls: Mapping[str, Iterable[Any]],
    *,
    labels: Mapping[str, str] | None = None,
    dpi: float = 80,
    description: str | None = None,
    initial: Mapping[str, Any] | None = None,
    max_frames: int = MAX_FRAMES,
    scale: float = 2,
    colors: int | None = 128,
    min_change: float = 0.0,
) -> InteractiveFigure:
    """Precompute a figure over a grid of control values; show it live or as a static scrubber.

    Args:
        render: ``render(**params) -> matplotlib.figure.Figure``, called once per combination of
            control values with one keyword argument per control. The helper saves each figure
            as PNG and closes it (and any other figure the call opened), so nothing is shown
            twice inline.
        controls: ordered mapping ``name -> sequence of values`` (real numbers or strings, no
            duplicates, at least one). Names must be Python identifiers. Numpy arrays work.
        labels: optional ``name -> text`` shown next to a control (default: the name).
        dpi: resolution of the saved PNG frames (positive; default 80).
        description: optional caption shown under the figure (plain text, escaped).
        initial: optional ``name -> value`` to start at; default the first value of each control.
        max_frames: refuse grids with more combinations than this (default :data:`MAX_FRAMES`,
            400); every frame is embedded in the page.
        scale: pixel density of the frames (default 2: sharp on high-density screens). Frames
            are saved at ``dpi * scale`` and shown at ``dpi`` CSS pixels per inch.
        colors: save each frame as a palette PNG of at most this many colours (default 128:
            a third of the bytes of a full-colour PNG, with no visible difference on plots);
            ``None`` keeps full colour.
        min_change: drop near-identical frames: a frame whose pixels differ from the frame
            before it (along the last control) in less than this fraction of pixels shows that
            frame instead (default 0: only exactly identical frames are shared). The dropped
            combinations are listed in ``.dropped``. Keep the control's value out of the
            figure's own title when using this (the value label beside the slider shows it).

    Returns:
        InteractiveFigure: ``.frames`` maps each tuple of values to PNG bytes; ``.to_html()``,
        ``.save_html(path)``, ``.live()``; displaying it in a notebook shows the live widget where a
        kernel and widget manager exist and the static scrubber otherwise.

    Raises:
        ValueError: ``controls`` is empty; a control has no values, duplicate values, a NaN value
            or a name that is not an identifier; the grid has more than ``max_frames``
            combinations (message gives the count and the limit); ``render`` returned something
            other than a matplotlib Figure (message names the parameters it was called with);
            ``labels`` or ``initial`` name an unknown control; an ``initial`` value is not among
            the control's values; ``dpi`` is not positive; ``scale`` is below 1; ``colors`` is
            not an integer from 2 to 256 (or None); ``min_change`` is not in [0, 1).
        TypeError: ``render`` is not callable; ``controls`` is not a mapping; a control's values
            are a string or not iterable; a value is neither a real number nor a string.
        Exception: whatever ``render`` raises propagates unchanged.
    """
    return InteractiveFigure(
        render,
        controls,
        labels=labels,
        dpi=dpi,
        description=description,
        initial=initial,
        max_frames=max_frames,
        scale=scale,
        colors=colors,
        min_change=min_change,
    )

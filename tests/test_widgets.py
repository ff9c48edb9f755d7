"""Unit tests of ibcore.widgets (no browser; see test_widgets_browser.py for the static path)."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import ibcore.widgets as widgets_mod
from ibcore.widgets import MAX_FRAMES, InteractiveFigure, interactive_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class CountingRender:
    """A render function that records every call and draws something that depends on the params."""

    def __init__(self):
        self.calls = []

    def __call__(self, width, step):
        self.calls.append({"width": width, "step": step})
        fig, ax = plt.subplots(figsize=(2, 1.5))
        x = np.linspace(-3, 3, 50)
        ax.plot(x, np.tanh(width * x) * (1 + step / 100))
        ax.set_title(f"w={width} s={step}")
        return fig


def small_render(width=1, step=0, **_):
    fig, ax = plt.subplots(figsize=(1.5, 1))
    ax.plot([0, 1], [0, width + step])
    return fig


def spec_from_html(fragment: str) -> dict:
    """The JSON object the scrubber script reads (`var spec = {...};`)."""
    match = re.search(r"var spec = (\{.*?\});\n", fragment, flags=re.S)
    assert match, "no `var spec = ...;` in the scrubber script"
    return json.loads(match.group(1))


@pytest.fixture
def fig2x3():
    render = CountingRender()
    w = interactive_figure(
        render, {"width": [1, 2], "step": [0, 10, 100]}, labels={"width": "hidden width"}, dpi=40
    )
    return w, render


# --------------------------------------------------------------------------- frames


def test_frame_count_is_product_of_control_lengths(fig2x3):
    w, render = fig2x3
    assert isinstance(w, InteractiveFigure)
    assert len(w.frames) == 2 * 3
    assert len(render.calls) == 6
    assert list(w.frames) == [(1, 0), (1, 10), (1, 100), (2, 0), (2, 10), (2, 100)]
    assert w.controls == {"width": (1, 2), "step": (0, 10, 100)}


def test_each_frame_is_a_valid_png_of_the_expected_size(fig2x3):
    w, _ = fig2x3
    for png in w.frames.values():
        assert isinstance(png, bytes)
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png)) as im:
            im.verify()
        with Image.open(io.BytesIO(png)) as im:
            assert im.size == (160, 120)  # figsize (2, 1.5) at dpi=40, scale 2
            assert im.mode == "P"  # a palette PNG
    assert w.display_size == (80, 60)
    assert 'width="80" height="60"' in w.to_html()


def test_scale_one_and_full_colour_frames():
    w = interactive_figure(small_render, {"width": [1, 2]}, dpi=40, scale=1, colors=None)
    with Image.open(io.BytesIO(w.frames[(1,)])) as im:
        assert im.size == (60, 40) and im.mode in ("RGB", "RGBA")


def test_palette_frames_are_smaller_and_look_the_same():
    def render(width):
        fig, ax = plt.subplots(figsize=(3, 2))
        im = ax.imshow(np.outer(np.linspace(0, 1, 40), np.linspace(0, width, 60)))
        fig.colorbar(im)
        ax.set_title(f"width {width}")
        return fig

    full = interactive_figure(render, {"width": [1, 2]}, dpi=50, colors=None)
    pal = interactive_figure(render, {"width": [1, 2]}, dpi=50)
    for key in full.frames:
        assert len(pal.frames[key]) < 0.6 * len(full.frames[key])
        with Image.open(io.BytesIO(full.frames[key])) as a, Image.open(
            io.BytesIO(pal.frames[key])
        ) as b:
            x = np.asarray(a.convert("RGB"), dtype=float)
            y = np.asarray(b.convert("RGB"), dtype=float)
        assert np.abs(x - y).mean() < 2.0  # mean error under 2 of 255 levels


def test_near_identical_frames_are_dropped_only_when_asked():
    def render(step):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 1 + (step > 5) * 1e-3 * step])  # steps 10 and 20: a tiny change
        if step >= 30:
            ax.axvspan(0, 0.5, color="tab:red")  # a large change
        return fig

    exact = interactive_figure(render, {"step": [0, 10, 20, 30]}, dpi=40)
    assert exact.dropped == []
    loose = interactive_figure(render, {"step": [0, 10, 20, 30]}, dpi=40, min_change=0.05)
    assert loose.dropped == [(10,), (20,)]
    assert loose.frames[(10,)] == loose.frames[(20,)] == loose.frames[(0,)]
    assert loose.frames[(30,)] != loose.frames[(0,)]
    assert len(spec_from_html(loose.to_html())["images"]) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [({"scale": 0.5}, "scale"), ({"colors": 1}, "colors"), ({"colors": 300}, "colors"),
     ({"min_change": 1.0}, "min_change"), ({"min_change": -0.1}, "min_change")],
)
def test_bad_encoding_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        interactive_figure(small_render, {"width": [1]}, **kwargs)


def test_the_value_stays_beside_its_slider_on_a_phone():
    fragment = interactive_figure(small_render, {"width": [1, 2]}).to_html()
    assert "<style>" in fragment and "@media (max-width:560px)" in fragment
    assert "grid-column:1/-1" in fragment  # the label, not the value, takes its own line


def test_frames_differ_when_render_differs(fig2x3):
    w, _ = fig2x3
    assert len(set(w.frames.values())) == len(w.frames)


def test_frames_are_deterministic():
    a = interactive_figure(small_render, {"width": [1, 2]})
    b = interactive_figure(small_render, {"width": [1, 2]})
    assert a.frames == b.frames


def test_identical_frames_are_stored_once_in_html():
    def render(width, unused):
        return small_render(width=width)

    w = interactive_figure(render, {"width": [1, 2], "unused": ["a", "b", "c"]})
    spec = spec_from_html(w.to_html())
    assert len(spec["images"]) == 2
    assert len(spec["frames"]) == 6
    assert spec["frames"]["0,0"] == spec["frames"]["0,2"] != spec["frames"]["1,0"]


def test_figures_are_closed_after_rendering():
    before = plt.get_fignums()

    def render(width):
        plt.figure()  # an extra figure render forgot about is closed too
        return small_render(width=width)

    interactive_figure(render, {"width": [1, 2, 3]})
    assert plt.get_fignums() == before


def test_render_receives_keyword_params_and_numpy_values_work():
    seen = []

    def render(lr, act):
        seen.append((lr, act))
        return small_render()

    w = interactive_figure(render, {"lr": np.array([0.1, 0.01]), "act": ["relu", "tanh"]})
    assert seen == [(0.1, "relu"), (0.1, "tanh"), (0.01, "relu"), (0.01, "tanh")]
    spec = spec_from_html(w.to_html())
    assert spec["controls"][0]["values"] == ["0.1", "0.01"]


# --------------------------------------------------------------------------- static HTML


def test_to_html_is_self_contained(fig2x3):
    w, _ = fig2x3
    fragment = w.to_html()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", fragment, flags=re.I)
    assert "http://" not in fragment and "https://" not in fragment
    assert "<link" not in fragment
    assert not re.search(r"<script[^>]*\bsrc\s*=", fragment)
    assert re.search(r'<img[^>]*src="data:image/png;base64,', fragment)


def test_to_html_structure(fig2x3):
    w, _ = fig2x3
    fragment = w.to_html()
    assert fragment.startswith('<div class="ib-scrubber" id="ib-scrubber-')
    assert fragment.endswith("</div>")
    assert len(re.findall(r'<input type="range"', fragment)) == 2
    assert re.search(r'<input type="range"[^>]*data-control="width"[^>]*max="1"', fragment)
    assert re.search(r'<input type="range"[^>]*data-control="step"[^>]*max="2"', fragment)
    assert len(re.findall(r"<img ", fragment)) == 1
    assert fragment.count("<script>") == 1
    assert re.search(r'data-control="width">hidden width</label>', fragment)  # label used
    assert ">step</label>" in fragment  # default label is the name
    value = r'<output class="ib-scrubber-value"[^>]*data-control="width"[^>]*>1</'
    assert re.search(value, fragment)
    assert "max-width:100%" in fragment


def test_value_label_is_as_wide_as_the_longest_value(fig2x3):
    # otherwise the flexible slider track changes width as the value text changes length
    fragment = fig2x3[0].to_html()
    pattern = r'<output [^>]*data-control="(\w+)" style="[^"]*min-width:(\d+)ch'
    widths = dict(re.findall(pattern, fragment))
    assert widths == {"width": "1", "step": "3"}


def test_frame_lookup_is_keyed_by_joined_indices(fig2x3):
    w, _ = fig2x3
    fragment = w.to_html()
    spec = spec_from_html(fragment)
    assert set(spec["frames"]) == {f"{i},{j}" for i in range(2) for j in range(3)}
    for (i, j), key in [((0, 0), (1, 0)), ((1, 2), (2, 100)), ((0, 1), (1, 10))]:
        image = spec["images"][spec["frames"][f"{i},{j}"]]
        assert base64.b64decode(image) == w.frames[key]
    assert spec["id"] in fragment
    assert [c["name"] for c in spec["controls"]] == ["width", "step"]


def test_initial_frame_is_first_values_by_default(fig2x3):
    w, _ = fig2x3
    fragment = w.to_html()
    src = re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"', fragment).group(1)
    assert base64.b64decode(src) == w.frames[(1, 0)]


def test_initial_can_be_chosen():
    render = CountingRender()
    w = interactive_figure(render, {"width": [1, 2], "step": [0, 10, 100]}, initial={"step": 100})
    assert w.initial == {"width": 1, "step": 100}
    fragment = w.to_html()
    src = re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"', fragment).group(1)
    assert base64.b64decode(src) == w.frames[(1, 100)]
    assert re.search(r'data-control="step"[^>]*value="2"', fragment)
    assert re.search(r'data-control="step"[^>]*>100</output>', fragment)


def test_ids_are_unique_per_call(fig2x3):
    w, _ = fig2x3
    ids = {re.search(r'id="(ib-scrubber-[^"]+)"', w.to_html()).group(1) for _ in range(3)}
    assert len(ids) == 3


def test_description_and_labels_are_escaped():
    w = interactive_figure(
        lambda width: small_render(width=len(width)),
        {"width": ["<b>", "a&b"]},
        labels={"width": "</script><i>x"},
        description="caption <script>alert(1)</script>",
    )
    fragment = w.to_html()
    assert "<b>" not in fragment and "<i>" not in fragment
    assert "alert(1)</script>" not in fragment
    assert "caption &lt;script&gt;" in fragment
    assert fragment.count("</script>") == 1
    spec = spec_from_html(fragment)
    assert spec["controls"][0]["values"] == ["<b>", "a&b"]
    assert spec["controls"][0]["label"] == "</script><i>x"


def test_save_html_writes_a_full_page(tmp_path: Path, fig2x3):
    w, _ = fig2x3
    path = w.save_html(tmp_path / "fig.html")
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text
    assert '<div class="ib-scrubber"' in text
    assert text.rstrip().endswith("</html>")


# --------------------------------------------------------------------------- errors


def test_empty_controls_raise():
    with pytest.raises(ValueError, match="controls is empty"):
        interactive_figure(small_render, {})


def test_empty_value_list_raises():
    with pytest.raises(ValueError, match="control 'step' has an empty list of values"):
        interactive_figure(small_render, {"width": [1], "step": []})


def test_duplicate_values_raise():
    with pytest.raises(ValueError, match=r"control 'width' has duplicate values \[2\]"):
        interactive_figure(small_render, {"width": [1, 2, 2]})
    with pytest.raises(ValueError, match="duplicate"):
        interactive_figure(small_render, {"width": [1, 1.0]})


def test_render_not_returning_a_figure_raises_and_names_params():
    before = plt.get_fignums()

    def render(width, step):
        fig, ax = plt.subplots()
        return ax

    with pytest.raises(ValueError) as info:
        interactive_figure(render, {"width": [3, 4], "step": ["a"]})
    msg = str(info.value)
    assert "render(width=3, step='a')" in msg
    assert "Axes" in msg
    assert "matplotlib.figure.Figure" in msg
    assert plt.get_fignums() == before  # the figure it opened is closed


def test_render_returning_none_raises():
    with pytest.raises(ValueError, match=r"render\(width=1\) returned NoneType"):
        interactive_figure(lambda width: None, {"width": [1]})


def test_too_many_frames_raises_before_rendering():
    render = CountingRender()
    with pytest.raises(ValueError) as info:
        interactive_figure(render, {"width": list(range(21)), "step": list(range(20))})
    msg = str(info.value)
    assert "420" in msg and str(MAX_FRAMES) in msg and "too many frames" in msg
    assert render.calls == []
    with pytest.raises(ValueError, match="6 combinations, more than the limit of 5"):
        interactive_figure(render, {"width": [1, 2], "step": [0, 1, 2]}, max_frames=5)


def test_other_argument_errors():
    with pytest.raises(ValueError, match="labels given for unknown controls"):
        interactive_figure(small_render, {"width": [1]}, labels={"depth": "d"})
    with pytest.raises(ValueError, match="initial given for unknown controls"):
        interactive_figure(small_render, {"width": [1]}, initial={"depth": 1})
    with pytest.raises(ValueError, match="initial value 5 for control 'width' is not one of"):
        interactive_figure(small_render, {"width": [1, 2]}, initial={"width": 5})
    with pytest.raises(ValueError, match="not a valid Python identifier"):
        interactive_figure(small_render, {"hidden width": [1]})
    with pytest.raises(ValueError, match="NaN"):
        interactive_figure(small_render, {"width": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="dpi must be a positive number"):
        interactive_figure(small_render, {"width": [1]}, dpi=0)
    with pytest.raises(TypeError, match=r"to offer a single value write \['relu'\]"):
        interactive_figure(small_render, {"act": "relu"})
    with pytest.raises(TypeError, match="must be a mapping"):
        interactive_figure(small_render, [("width", [1])])
    with pytest.raises(TypeError, match="real numbers or strings"):
        interactive_figure(small_render, {"width": [[1, 2]]})
    with pytest.raises(TypeError, match="render must be callable"):
        interactive_figure("render", {"width": [1]})


def test_render_exception_propagates():
    def render(width):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        interactive_figure(render, {"width": [1]})


# --------------------------------------------------------------------------- display


def test_mimebundle_outside_kernel_is_static(fig2x3):
    w, _ = fig2x3
    bundle = w._repr_mimebundle_()
    assert bundle["text/html"].startswith('<div class="ib-scrubber"')
    assert bundle["text/plain"].startswith("<InteractiveFigure width=[1, 2]")
    assert base64.b64decode(bundle["image/png"]) == w.frames[(1, 0)]
    assert WIDGET_MIME not in bundle
    assert set(w._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert "text/html" not in w._repr_mimebundle_(exclude={"text/html"})


def test_mimebundle_in_kernel_adds_widget_view(monkeypatch, fig2x3):
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(widgets_mod, "_in_kernel", lambda: True)
    monkeypatch.delenv("IBCORE_WIDGETS", raising=False)
    w, render = fig2x3
    bundle = w._repr_mimebundle_()
    assert "text/html" in bundle and "text/plain" in bundle
    view = bundle[WIDGET_MIME]
    assert view["model_id"] == w._live_widget.model_id
    assert view["version_major"] == 2
    n = len(render.calls)
    again = w._repr_mimebundle_()  # the live widget is built once and reused
    assert again[WIDGET_MIME]["model_id"] == view["model_id"]
    assert len(render.calls) == n


def test_ibcore_widgets_static_env_leaves_out_widget_view(monkeypatch, fig2x3):
    monkeypatch.setattr(widgets_mod, "_in_kernel", lambda: True)
    monkeypatch.setenv("IBCORE_WIDGETS", "static")
    w, _ = fig2x3
    bundle = w._repr_mimebundle_()
    assert "text/html" in bundle and WIDGET_MIME not in bundle
    assert w._live_widget is None


def test_without_ipywidgets_static_path_still_works(monkeypatch, fig2x3):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    monkeypatch.setattr(widgets_mod, "_in_kernel", lambda: True)
    w, _ = fig2x3
    bundle = w._repr_mimebundle_()
    assert "text/html" in bundle and WIDGET_MIME not in bundle
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        w.live()


def test_module_does_not_import_ipywidgets():
    code = "import sys; sys.modules['ipywidgets'] = None\nimport ibcore.widgets\nprint('ok')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --------------------------------------------------------------------------- live widget


def _shown_png(out) -> bytes:
    (entry,) = out.outputs
    assert entry["output_type"] == "display_data"
    return base64.b64decode(entry["data"]["image/png"])


def test_live_returns_widget_that_recomputes(fig2x3):
    ipywidgets = pytest.importorskip("ipywidgets")
    w, render = fig2x3
    render.calls.clear()
    box = w.live()
    assert isinstance(box, ipywidgets.VBox)
    *sliders, out = box.children
    assert all(isinstance(s, ipywidgets.SelectionSlider) for s in sliders)
    assert isinstance(out, ipywidgets.Output)
    assert [s.description for s in sliders] == ["hidden width", "step"]
    assert [s.options for s in sliders] == [
        (("1", 1), ("2", 2)),
        (("0", 0), ("10", 10), ("100", 100)),
    ]
    assert [s.value for s in sliders] == [1, 0]

    assert render.calls == [{"width": 1, "step": 0}]  # initial render
    assert _shown_png(out) == w.frames[(1, 0)]

    sliders[0].value = 2
    assert render.calls[-1] == {"width": 2, "step": 0}
    assert len(render.calls) == 2
    assert _shown_png(out) == w.frames[(2, 0)]

    sliders[1].value = 100
    assert render.calls[-1] == {"width": 2, "step": 100}
    assert len(render.calls) == 3
    assert _shown_png(out) == w.frames[(2, 100)]

    sliders[1].value = 100  # no change, no recompute
    assert len(render.calls) == 3
    assert plt.get_fignums() == []


def test_live_starts_at_initial_and_shows_description():
    ipywidgets = pytest.importorskip("ipywidgets")
    render = CountingRender()
    w = interactive_figure(
        render, {"width": [1, 2], "step": [0, 10]}, initial={"width": 2}, description="a caption"
    )
    render.calls.clear()
    box = w.live()
    assert [c.value for c in box.children[:2]] == [2, 0]
    assert render.calls == [{"width": 2, "step": 0}]
    assert isinstance(box.children[-1], ipywidgets.HTML)
    assert "a caption" in box.children[-1].value


def test_live_shows_render_errors_in_the_output():
    pytest.importorskip("ipywidgets")
    fail = {"on": False}

    def render(width):
        if fail["on"]:
            raise RuntimeError("training diverged")
        return small_render(width=width)

    w = interactive_figure(render, {"width": [1, 2]})
    box = w.live()
    fail["on"] = True
    box.children[0].value = 2
    (entry,) = box.children[-1].outputs
    assert entry["output_type"] == "stream"
    assert "render(width=2) failed" in entry["text"]
    assert "training diverged" in entry["text"]

"""The static scrubber of ibcore.widgets in a real headless Chromium (via playwright).

Moving a control must change the picture, with no kernel and no network. Skipped (with the reason
shown by ``pytest -ra``) when playwright or Chromium is unavailable. The Chromium binary defaults to
Debian's ``/usr/bin/chromium``; set ``IBCORE_CHROMIUM`` to use another.
"""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from ibcore.widgets import interactive_figure

pytestmark = pytest.mark.browser

WIDTHS = [1, 2, 4]
STEPS = [0, 10]


def _render(width, step):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, width * (step + 1)])
    ax.set_title(f"width={width} step={step}")
    return fig


def _src(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@pytest.fixture(scope="module")
def figure():
    return interactive_figure(
        _render, {"width": WIDTHS, "step": STEPS}, labels={"width": "hidden width"}, dpi=50
    )


@pytest.fixture
def page(browser):
    """A fresh page that records JS errors and every non-local request."""
    context = browser.new_context(viewport={"width": 800, "height": 600})
    pg = context.new_page()
    pg.errors = []
    pg.remote_requests = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on(
        "request",
        lambda req: (
            None
            if req.url.startswith(("file:", "data:", "about:"))
            else pg.remote_requests.append(req.url)
        ),
    )
    yield pg
    context.close()


def _open(page, path: Path):
    page.goto(path.resolve().as_uri())
    page.wait_for_selector(".ib-scrubber[data-ib-bound='1']")


def _value_text(root, name: str) -> str:
    return root.locator(f'output.ib-scrubber-value[data-control="{name}"]').text_content()


def _set_value(locator, value: int) -> None:
    """Set a range input's value from script and fire `input`, as a drag would."""
    locator.evaluate(
        "(el, v) => { el.value = String(v);"
        " el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def _open_figure(page, figure, tmp_path):
    """The module's figure saved and opened: its scrubber, image, width slider and first frame."""
    _open(page, Path(figure.save_html(tmp_path / "fig.html")))
    root = page.locator(".ib-scrubber")
    img = root.locator("img.ib-scrubber-img")
    width = root.locator('input[type="range"][data-control="width"]')
    return root, img, width, img.get_attribute("src")


def test_keyboard_moves_the_picture(page, figure, tmp_path):
    root, img, width, original = _open_figure(page, figure, tmp_path)
    assert original == _src(figure.frames[(1, 0)])
    assert _value_text(root, "width") == "1"

    width.focus()
    page.keyboard.press("ArrowRight")
    assert width.input_value() == "1"
    assert img.get_attribute("src") != original
    assert img.get_attribute("src") == _src(figure.frames[(2, 0)])
    assert _value_text(root, "width") == "2"

    page.keyboard.press("End")
    assert img.get_attribute("src") == _src(figure.frames[(4, 0)])
    assert _value_text(root, "width") == "4"

    page.keyboard.press("Home")
    assert img.get_attribute("src") == original
    assert _value_text(root, "width") == "1"
    assert page.errors == []
    assert page.remote_requests == []


def test_setting_value_and_input_event_moves_the_picture(page, figure, tmp_path):
    root, img, width, original = _open_figure(page, figure, tmp_path)
    step = root.locator('input[data-control="step"]')

    _set_value(step, 1)
    assert img.get_attribute("src") == _src(figure.frames[(1, 10)])
    assert _value_text(root, "step") == "10"
    assert _value_text(root, "width") == "1"

    _set_value(width, 2)
    assert img.get_attribute("src") == _src(figure.frames[(4, 10)])
    assert img.get_attribute("data-frame") == "2,1"
    assert _value_text(root, "width") == "4"
    assert width.get_attribute("aria-valuetext") == "4"

    _set_value(width, 0)
    _set_value(step, 0)
    assert img.get_attribute("src") == original
    assert _value_text(root, "width") == "1"
    assert _value_text(root, "step") == "0"
    assert page.errors == []


def test_mouse_click_moves_the_picture(page, figure, tmp_path):
    root, img, width, original = _open_figure(page, figure, tmp_path)

    box = width.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    assert width.input_value() == "2"
    assert img.get_attribute("src") == _src(figure.frames[(4, 0)])
    assert _value_text(root, "width") == "4"

    page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
    assert img.get_attribute("src") == original
    assert page.errors == []


def test_initial_frame_and_several_scrubbers_on_one_page(page, tmp_path):
    a = interactive_figure(_render, {"width": WIDTHS, "step": STEPS}, dpi=40)
    b = interactive_figure(_render, {"width": WIDTHS, "step": STEPS}, dpi=40, initial={"step": 10})
    fragment_b = b.to_html()
    # the same fragment twice (duplicate id) must still give two working scrubbers
    body = a.to_html() + fragment_b + fragment_b
    path = tmp_path / "many.html"
    path.write_text(f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8")
    _open(page, path)

    roots = page.locator(".ib-scrubber")
    assert roots.count() == 3
    imgs = [roots.nth(i).locator("img") for i in range(3)]
    assert imgs[0].get_attribute("src") == _src(a.frames[(1, 0)])
    assert imgs[1].get_attribute("src") == _src(b.frames[(1, 10)])
    assert _value_text(roots.nth(1), "step") == "10"

    for i in range(3):
        _set_value(roots.nth(i).locator('input[data-control="width"]'), i)
    assert imgs[0].get_attribute("src") == _src(a.frames[(1, 0)])
    assert imgs[1].get_attribute("src") == _src(b.frames[(2, 10)])
    assert imgs[2].get_attribute("src") == _src(b.frames[(4, 10)])
    assert page.errors == []


def test_fits_a_narrow_page(page, figure, tmp_path):
    _open(page, Path(figure.save_html(tmp_path / "fig.html")))
    page.set_viewport_size({"width": 120, "height": 600})
    sizes = page.locator(".ib-scrubber").evaluate(
        """root => ({
            rootW: root.getBoundingClientRect().width,
            bodyW: document.body.clientWidth,
            imgW: root.querySelector('img').getBoundingClientRect().width,
            docScroll: document.documentElement.scrollWidth,
            docClient: document.documentElement.clientWidth,
        })"""
    )
    assert sizes["rootW"] <= sizes["bodyW"] + 0.5
    assert sizes["imgW"] <= sizes["rootW"] + 0.5
    assert sizes["docScroll"] <= sizes["docClient"]


def test_value_label_stays_beside_its_slider_on_a_phone(page, tmp_path):
    values = [0, 25, 50, 100, 200, 400, 800]
    fig = interactive_figure(
        lambda step, width: _render(width, step),
        {"step": values, "width": WIDTHS},
        labels={"step": "training step of the run", "width": "hidden width"},
        dpi=40,
    )
    _open(page, Path(fig.save_html(tmp_path / "fig.html")))
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        rows = page.locator(".ib-scrubber-row")
        for k in range(rows.count()):
            box = rows.nth(k).evaluate(
                """row => { const a = row.querySelector('input').getBoundingClientRect(),
                b = row.querySelector('output').getBoundingClientRect();
                return {mid: Math.abs((a.top + a.bottom) - (b.top + b.bottom)) / 2,
                        right: b.right, vw: document.documentElement.clientWidth,
                        slider: a.width}; }"""
            )
            assert box["mid"] < 8, f"at {width} px the value of row {k} wraps below its slider"
            assert box["right"] <= box["vw"]
            assert box["slider"] >= 60

"""The built HTML book, as a reader opens it: run after `make book` (`.ci/run` does).

Every chapter notebook under book/ is checked in its built page: executed outputs, typeset math,
figures, interactive figures that respond with no kernel, no remote requests, nothing overflowing
the page width and no script errors. Skipped, with the reason printed, when the book has not been
built yet or Chromium is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHAPTERS = sorted((ROOT / "book").rglob("[0-9][0-9]-*.ipynb"))

pytestmark = pytest.mark.browser


def _built(notebook: Path) -> Path:
    return HTML / notebook.relative_to(ROOT).with_suffix(".html")


@pytest.fixture(scope="module", params=CHAPTERS, ids=lambda p: p.stem)
def chapter(request, browser):
    path = _built(request.param)
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} not built yet; run `make book` first")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.errors = []
    page.remote = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
            else page.remote.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_timeout(1500)
    page.html_path = path
    yield page
    page.close()


def test_chapter_has_executed_outputs_math_and_figures(chapter):
    html = chapter.html_path.read_text()
    assert "cell_output" in html, "the chapter has no executed outputs"
    assert "Show code cell content" in html, "check cells should be folded away"
    if "\\(" in html or "\\[" in html or "math notranslate" in html:
        assert chapter.locator("mjx-container").count() > 0, "MathJax did not typeset the math"
    assert chapter.locator("img").count() >= 1, "figures are missing"


def test_chapter_widgets_respond_without_kernel(chapter):
    scrubbers = chapter.locator(".ib-scrubber")
    for i in range(scrubbers.count()):
        scrubber = scrubbers.nth(i)
        scrubber.scroll_into_view_if_needed()
        img = scrubber.locator("img.ib-scrubber-img")
        before = img.get_attribute("src")
        slider = scrubber.locator("input[type=range]").first
        slider.focus()
        slider.press("Home")
        after = img.get_attribute("src")
        if after == before:  # the initial frame was the first one: go the other way
            slider.press("End")
            after = img.get_attribute("src")
        assert after != before, f"moving a slider of widget {i} did not change the picture"


def test_chapter_makes_no_remote_requests_and_no_overflow(chapter):
    assert chapter.remote == [], chapter.remote
    overflow = chapter.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not overflow
    ours = [e for e in chapter.errors if "THEBE_JS_URL" not in e]  # sphinx-thebe declares it twice
    assert ours == [], ours

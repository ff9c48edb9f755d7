"""The built HTML book, as a reader opens it: run after `make book` (`.ci/run` does).

Skipped, with the reason printed, when the book has not been built yet or Chromium is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
POST1 = HTML / "book" / "posts" / "01-numbers-and-meaning.html"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def post1(browser):
    if not POST1.exists():
        pytest.skip(f"{POST1.relative_to(ROOT)} not built yet; run `make book` first")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.errors = []
    page.remote = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
            else page.remote.append(r.url))
    page.goto(POST1.as_uri())
    page.wait_for_timeout(1500)
    yield page
    page.close()


def test_post1_has_executed_outputs_and_math(post1):
    html = POST1.read_text()
    assert "cell_output" in html, "the post has no executed outputs"
    assert "Show code cell content" in html, "check cells should be folded away"
    assert post1.locator("mjx-container").count() > 10, "MathJax did not typeset the equations"
    assert post1.locator("img").count() >= 4, "figures are missing"


def test_post1_widget_responds_without_kernel(post1):
    scrubber = post1.locator(".ib-scrubber").first
    assert scrubber.count() == 1
    img = scrubber.locator("img.ib-scrubber-img")
    before = img.get_attribute("src")
    slider = scrubber.locator("input[type=range]").first
    slider.focus()
    slider.press("Home")
    after = img.get_attribute("src")
    assert after != before, "moving the hidden-width slider did not change the picture"
    slider.press("End")
    assert img.get_attribute("src") == before


def test_post1_makes_no_remote_requests_and_no_overflow(post1):
    assert post1.remote == [], post1.remote
    overflow = post1.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not overflow
    ours = [e for e in post1.errors if "THEBE_JS_URL" not in e]  # sphinx-thebe declares it twice
    assert ours == [], ours

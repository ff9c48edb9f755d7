"""The built HTML book, as a reader opens it: run after `make book` (`.ci/run` does).

Every page of the table of contents is served over http (as the README says to read the book) and
opened in headless Chromium at a desktop width (1280 px) and a phone width (390 px):

* no console errors and no script errors, no remote requests;
* the sidebar toggle opens the page list and the "contents" toggle the in-page contents;
* nothing overflows the page at 390 px except inside boxes that scroll on their own;
* every control of every interactive figure changes its picture, with no kernel;
* chapters: executed outputs, typeset math, every figure numbered and captioned, numbers within
  the chapter ("Figure 2.1", "Exercise 2.1"), no ipywidgets state, page weight under budget;
* search works (over http; over file:// browsers block the index fetches).

Skipped, with the reason printed, when the book has not been built yet or Chromium is missing.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHAPTERS = sorted((ROOT / "book").rglob("[0-9][0-9]-*.ipynb"))
CHAPTERS = [p for p in CHAPTERS if ".ipynb_checkpoints" not in p.parts]
#: HTML plus the images it loads, per page (issue 16: every post under 1.5 MB).
PAGE_BUDGET = {"posts": 1.5e6, "monograph": 2.5e6}
WIDTHS = {"desktop": 1280, "phone": 390}

pytestmark = pytest.mark.browser


def _toc_pages() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return [f"{name}.html" for name in re.findall(r"(?:file|root):\s*(\S+)", toc)]


PAGES = _toc_pages()


def _is_chapter(page: str) -> bool:
    return re.match(r"book/(posts|monograph)/\d\d-", page) is not None


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.skip("_build/html not built yet; run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _open(browser, server, page_path: str, width: int):
    if not (HTML / page_path.split("?")[0]).exists():
        pytest.skip(f"{page_path} not built yet; run `make book` first")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.errors = []
    page.remote = []
    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: page.errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((server, "data:", "about:"))
            else page.remote.append(r.url))
    page.goto(server + page_path)
    page.wait_for_load_state("load")
    _typeset(page)
    page.wait_for_timeout(600)
    return context, page


def _typeset(page) -> None:
    """Wait until MathJax has typeset the page with its own fonts: before that, formulas have
    interim widths, and on a loaded machine 600 ms after `load` is not always enough."""
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            await MathJax.startup.promise;
        }
        await document.fonts.ready;
    }""")


@pytest.fixture(scope="module", params=[(p, w) for p in PAGES for w in WIDTHS],
                ids=lambda pw: f"{Path(pw[0]).stem}-{pw[1]}")
def opened(request, browser, server):
    page_path, which = request.param
    context, page = _open(browser, server, page_path, WIDTHS[which])
    page.page_path, page.width = page_path, WIDTHS[which]
    yield page
    context.close()


# ----------------------------------------------------------------------------- every page


def test_no_console_errors_and_no_remote_requests(opened):
    assert opened.errors == [], opened.errors
    assert opened.remote == [], opened.remote


def _visible_in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        """sel => { const el = document.querySelector(sel); if (!el) return false;
        const r = el.getBoundingClientRect(), s = getComputedStyle(el);
        return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 50
          && r.right > 10 && r.left < window.innerWidth - 10; }""",
        selector,
    )


def _visible_toggle(page, cls: str):
    toggles = page.locator(f"button.{cls}, label.{cls}")
    for i in range(toggles.count()):
        if toggles.nth(i).is_visible():
            return toggles.nth(i)
    return None


def _fresh(page):
    """Reload, so that what an earlier test opened on this page is closed again."""
    page.reload()
    page.wait_for_load_state("load")
    _typeset(page)
    page.wait_for_timeout(400)
    return page


def test_sidebar_toggle_opens_and_closes_the_page_list(opened):
    page = _fresh(opened)
    toggle = _visible_toggle(page, "primary-toggle")
    assert toggle is not None, "no visible sidebar toggle"
    side = ".bd-sidebar-primary"
    before = _visible_in_viewport(page, side)
    assert before == (page.width >= 960), f"sidebar shown={before} at {page.width} px"
    toggle.click()
    page.wait_for_timeout(500)
    assert _visible_in_viewport(page, side) != before, "the sidebar toggle did nothing"
    if not before:  # on a phone the page list is now open: it lists the posts
        assert page.locator(f"{side} nav.bd-docs-nav a").first.is_visible()


def test_contents_toggle_opens_the_in_page_contents(opened):
    page = _fresh(opened)
    if page.locator(".bd-sidebar-secondary nav a").count() == 0:
        pytest.skip(f"{page.page_path} has no in-page contents")
    side = ".bd-sidebar-secondary"
    before = _visible_in_viewport(page, side)
    toggle = _visible_toggle(page, "secondary-toggle")
    if toggle is None:
        assert before, f"no contents toggle and no contents at {page.width} px"
        return
    toggle.click()
    page.wait_for_timeout(500)
    after = _visible_in_viewport(page, side)
    assert after != before, "the contents toggle did nothing"
    if after:
        assert page.locator(f"{side} nav a").first.is_visible()


def test_nothing_overflows_the_page_on_a_phone(opened):
    if opened.width != WIDTHS["phone"]:
        pytest.skip("checked at the phone width")
    bad = opened.evaluate(
        """() => {
        const vw = document.documentElement.clientWidth, out = [];
        function scrolls(el) {
          for (let p = el.parentElement; p; p = p.parentElement) {
            const s = getComputedStyle(p);
            if (/(auto|scroll)/.test(s.overflowX) &&
                p.getBoundingClientRect().right <= vw + 1) return true;
          }
          return false;
        }
        for (const el of document.querySelectorAll('.bd-article *')) {
          if (el.closest('mjx-assistive-mml')) continue;  // MathJax's clipped copy for readers
          const r = el.getBoundingClientRect();
          if (r.width > 0 && r.right > vw + 1 && !scrolls(el))
            out.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
        }
        return {doc: document.documentElement.scrollWidth - vw, out: out.slice(0, 5)};
        }"""
    )
    assert bad["doc"] <= 0, f"the page scrolls sideways by {bad['doc']} px"
    assert bad["out"] == [], bad["out"]


def test_interactive_figures_respond_without_kernel(opened):
    scrubbers = opened.locator(".ib-scrubber")
    for i in range(scrubbers.count()):
        scrubber = scrubbers.nth(i)
        scrubber.scroll_into_view_if_needed()
        img = scrubber.locator("img.ib-scrubber-img")
        sliders = scrubber.locator("input[type=range]")
        for k in range(sliders.count()):
            slider = sliders.nth(k)
            before = img.get_attribute("src")
            slider.focus()
            slider.press("Home")
            after = img.get_attribute("src")
            if after == before:  # the initial value was the first one: go the other way
                slider.press("End")
                after = img.get_attribute("src")
            assert after != before, f"control {k} of figure {i} did not change the picture"
        if opened.width == WIDTHS["phone"]:
            # the value label stays on the slider's line
            rows = scrubber.locator(".ib-scrubber-row")
            for k in range(rows.count()):
                gap = rows.nth(k).evaluate(
                    """row => { const a = row.querySelector('input').getBoundingClientRect(),
                    b = row.querySelector('output').getBoundingClientRect();
                    return Math.abs((a.top + a.bottom) - (b.top + b.bottom)) / 2; }""")
                assert gap < 12, f"figure {i}: a value label wraps below its slider"


# ----------------------------------------------------------------------------- chapters


def _chapter_pages():
    return [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in CHAPTERS
            if p.relative_to(ROOT).with_suffix(".html").as_posix() in PAGES]


@pytest.fixture(scope="module", params=_chapter_pages(), ids=lambda p: Path(p).stem)
def chapter(request, browser, server):
    context, page = _open(browser, server, request.param, WIDTHS["desktop"])
    page.page_path = request.param
    page.html_text = (HTML / request.param).read_text()
    yield page
    context.close()


def test_chapter_has_executed_outputs_math_and_figures(chapter):
    html = chapter.html_text
    assert "cell_output" in html, "the chapter has no executed outputs"
    assert "Show code cell content" in html, "check cells should be folded away"
    if "\\(" in html or "\\[" in html or "math notranslate" in html:
        assert chapter.locator("mjx-container").count() > 0, "MathJax did not typeset the math"
    assert chapter.locator("figure img").count() >= 1, "figures are missing"


def test_every_figure_is_numbered_and_captioned_within_the_chapter(chapter):
    nn = int(re.search(r"/(\d\d)-", chapter.page_path).group(1))
    imgs = chapter.evaluate(
        """() => Array.from(document.querySelectorAll('.bd-article img')).map(img => {
            for (let f = img.closest('figure'); f; f = f.parentElement.closest('figure')) {
              const cap = f.querySelector(':scope > figcaption');
              if (cap && /^Fig/.test(cap.textContent.trim())) return cap.textContent.trim();
            }
            return null; })"""
    )
    assert imgs, "no figures"
    for k, caption in enumerate(imgs):
        assert caption is not None, f"image {k} is not in a captioned figure"
        assert re.match(rf"Fig(ure|\.) {nn}\.\d+", caption), f"image {k}: caption {caption!r}"
    exercises = chapter.locator(".exercise .admonition-title, .exercise p.admonition-title")
    titles = [exercises.nth(i).text_content().strip() for i in range(exercises.count())]
    assert titles, "no numbered exercises"
    for k, title in enumerate(titles, start=1):
        assert title.startswith(f"Exercise {nn}.{k}"), (k, title)


def test_chapter_has_no_widget_state_and_fits_the_budget(chapter):
    html = chapter.html_text
    assert "application/vnd.jupyter.widget-state+json" not in html, "unused ipywidgets state"
    path = HTML / chapter.page_path
    total = path.stat().st_size
    for src in set(re.findall(r'<img[^>]+src="(?!data:)([^"]+)"', html)):
        total += (path.parent / src).resolve().stat().st_size
    budget = PAGE_BUDGET["posts" if "/posts/" in chapter.page_path else "monograph"]
    assert total < budget, f"{chapter.page_path}: {total / 1e6:.2f} MB > {budget / 1e6} MB"


# ----------------------------------------------------------------------------- search


def test_search_finds_text_over_http(browser, server):
    context, page = _open(browser, server, "search.html?q=gradient", WIDTHS["desktop"])
    try:
        page.wait_for_selector("ul.search li", timeout=20000)
        page.wait_for_timeout(1500)
        assert page.locator("ul.search li").count() >= 3
        assert page.locator("ul.search li p.context").count() >= 1, "results show titles only"
        assert page.errors == [], page.errors
    finally:
        context.close()

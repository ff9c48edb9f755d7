"""Shared pytest configuration for the ibcore tests."""

import os

import pytest

CHROMIUM = os.environ.get("IBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not importable; `pip install playwright` to run browser tests")
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"Chromium not found at {CHROMIUM}; install Debian's chromium "
            "(apt-get install chromium) or set IBCORE_CHROMIUM to run browser tests"
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()




def pytest_configure(config):
    """Register the custom markers used in this test suite."""
    config.addinivalue_line(
        "markers",
        "browser: runs in headless Chromium via playwright (skipped when Chromium or playwright "
        "is unavailable)",
    )

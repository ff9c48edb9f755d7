"""Shared pytest configuration for the ibcore tests."""


def pytest_configure(config):
    """Register the custom markers used in this test suite."""
    config.addinivalue_line(
        "markers",
        "browser: runs in headless Chromium via playwright (skipped when Chromium or playwright "
        "is unavailable)",
    )

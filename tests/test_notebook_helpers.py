"""ibcore.notebook: the one-call chapter setup and the source listings the monograph shows."""

from __future__ import annotations

import numpy as np
import pytest

import ibcore as ib
from ibcore import F
from ibcore.notebook import setup, show_source


def test_setup_seeds_ibcore_and_numpy():
    setup(seed=3)
    a = ib.get_rng().standard_normal(3), np.random.standard_normal(3)
    setup(seed=3)
    b = ib.get_rng().standard_normal(3), np.random.standard_normal(3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"threads": 0}])
def test_setup_refuses_bad_values(kwargs):
    with pytest.raises(ValueError, match="setup"):
        setup(**kwargs)


def test_setup_refuses_float_seed():
    with pytest.raises(TypeError):
        setup(seed=1.5)


def test_show_source_reads_the_installed_file():
    src = show_source(F.softmax)
    md = src._repr_markdown_()
    assert md.startswith("`softmax` from `ibcore/")
    assert "def softmax(" in md and "```python" in md
    assert "def softmax(" in repr(src)


def test_show_source_slices_and_reports_missing_markers():
    src = show_source(F.softmax, start="def softmax", stop="def softmax")
    assert src.code.count("\n") == 0
    with pytest.raises(ValueError, match="not found"):
        show_source(F.softmax, start="no such line anywhere")
    with pytest.raises(TypeError, match="no Python source"):
        show_source(np.add)


def test_setup_applies_the_book_style():
    import matplotlib as mpl

    from ibcore.viz import BOOK_STYLE

    mpl.rcParams["font.size"] = 7
    setup(seed=0)
    for key, value in BOOK_STYLE.items():
        got = mpl.rcParams[key]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == (
            list(value) if isinstance(value, tuple) else value
        ), key
    mpl.rcdefaults()


def test_book_png_is_a_retina_palette_png_with_its_display_size():
    import base64
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from ibcore.viz import book_png

    fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
    im = ax.imshow(np.outer(np.arange(20), np.arange(30)))
    fig.colorbar(im)
    data, meta = book_png(fig)
    with Image.open(io.BytesIO(base64.b64decode(data))) as png:
        assert png.mode == "P"
        assert png.size[0] // 2 == meta["width"] and png.size[1] // 2 == meta["height"]
    assert 200 <= meta["width"] <= 300  # 3 in at 100 CSS px per inch, tight box
    plt.close(fig)
    empty = plt.figure()
    assert book_png(empty) is None
    plt.close(empty)


def test_glue_closes_a_glued_figure():
    import matplotlib.pyplot as plt

    from ibcore.notebook import glue

    fig, _ = plt.subplots()
    glue("fig-test", fig, display=False)
    assert fig.number not in plt.get_fignums()


def test_predictive_band_draws_and_refuses_mismatched_curves():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ibcore.viz import predictive_band

    fig, ax = plt.subplots()
    x = np.linspace(0, 1, 5)
    predictive_band(ax, x, x, x - 1, x + 1, x, x, true_mean=x, title="t")
    assert [l.get_label() for l in ax.lines] == ["fitted mean", "true mean"]
    assert ax.get_title() == "t" and len(ax.collections) == 2  # data and band
    with pytest.raises(ValueError, match="lo has shape"):
        predictive_band(ax, x, x, x[:3], x)
    plt.close(fig)


def test_keep_freed_memory_applies_on_glibc_and_refuses_bad_values():
    import platform
    import sys

    from ibcore.notebook import keep_freed_memory

    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc
    with pytest.raises(ValueError, match="keep_freed_memory: mmap_threshold"):
        keep_freed_memory(mmap_threshold=64 * 2**20)
    with pytest.raises(ValueError, match="keep_freed_memory: trim_threshold"):
        keep_freed_memory(trim_threshold=0)
    with pytest.raises(TypeError):
        keep_freed_memory(mmap_threshold=1.5)

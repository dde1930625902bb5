"""``--plot``: expected, got and their difference for the minimal failing case, one row per parameter.

matplotlib is optional (``pip install crosscheck-grad[plot]``) and imported only here, with the
Agg backend, so a plot never needs a display. Arrays are drawn in the user's own layout,
so a transposed or scaled block looks transposed or scaled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UsageError

__all__ = ["plot_gradients", "require_matplotlib"]


def require_matplotlib() -> Any:
    """The ``matplotlib.pyplot`` module on the Agg backend, or a ``UsageError`` saying how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'crosscheck-grad[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1)


def plot_gradients(path: str, expected: dict[str, np.ndarray], got: dict[str, np.ndarray], *,
                   title: str = "") -> str:
    """Write a PNG to ``path``: columns expected | got | got - expected, a row per parameter.

    Expected and got share one colour scale per row; a shape mismatch leaves the difference
    panel empty with the two shapes written in it. Returns ``path``."""
    plt = require_matplotlib()
    names = list(expected)
    fig, axes = plt.subplots(len(names), 3, figsize=(9, 2.2 * len(names) + 0.6), squeeze=False)
    for row, name in enumerate(names):
        e = _as_2d(expected[name])
        g = _as_2d(got[name]) if name in got else None
        scale = max(float(np.max(np.abs(e))) if e.size else 0.0,
                    float(np.max(np.abs(g))) if g is not None and g.size else 0.0, 1e-300)
        panels = [(e, f"expected {name} {tuple(expected[name].shape)}"),
                  (g, f"got {name} {tuple(got[name].shape) if name in got else '(missing)'}")]
        for col, (a, label) in enumerate(panels):
            ax = axes[row][col]
            if a is not None:
                im = ax.imshow(a, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
            ax.set_title(label, fontsize=9)
        ax = axes[row][2]
        if g is not None and np.shape(got[name]) == np.shape(expected[name]):
            d = g - e
            biggest = float(np.max(np.abs(d))) if d.size else 0.0
            if biggest > 0:
                im = ax.imshow(d, cmap="PuOr_r", vmin=-biggest, vmax=biggest, aspect="auto", interpolation="nearest")
                fig.colorbar(im, ax=ax, fraction=0.046)
                ax.set_title(f"got - expected (largest {biggest:.2g})", fontsize=9)
            else:
                ax.text(0.5, 0.5, "identical", ha="center", va="center", fontsize=9)
                ax.set_title("got - expected", fontsize=9)
        else:
            got_shape = tuple(got[name].shape) if name in got else None
            ax.text(0.5, 0.5, f"shapes differ:\n{got_shape} vs {tuple(expected[name].shape)}", ha="center",
                    va="center", fontsize=9)
            ax.set_title("got - expected", fontsize=9)
        for a in axes[row]:
            a.set_xticks([])
            a.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

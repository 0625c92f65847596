"""One owner for the project's picture grids: rows of titled image panels saved to one PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def save_panel_grid(rows: list[list[tuple[np.ndarray, str]]], path: str | Path, cell_inches: tuple[float, float],
                    dpi: int) -> Path:
    """rows: each a list of (H, W, 3) uint8 image and its title, all rows as long as the first;
    each cell `cell_inches` (width, height) at `dpi`, axes hidden. Writes `path` (parents made)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = len(rows[0])
    figure = Figure(figsize=(cell_inches[0] * columns, cell_inches[1] * len(rows)), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for axes_row, panels in zip(axes, rows):
        for axis, (image, title) in zip(axes_row, panels):
            axis.imshow(image)
            axis.set_title(title, fontsize=8)
            axis.set_axis_off()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path

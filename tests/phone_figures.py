"""The one readability check of a report figure on a 390 px phone (shared by the page tests)."""
from __future__ import annotations

import numpy as np


def readable_on_a_phone(ax) -> None:
    """At most 6.4 in wide (640 px at 100 dpi), no text under 9 pt, no two tick labels on top of each other."""
    from matplotlib.text import Text as MplText

    fig = ax.figure
    assert fig.get_figwidth() <= 6.4
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(MplText) if t.get_visible() and t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= 9
    for a in fig.axes:
        for ticks in (a.get_xticklabels(), a.get_yticklabels()):
            ticks = [t for t in ticks if t.get_visible() and t.get_text()]
            turned = [t for t in ticks if t.get_rotation() % 90]
            if turned:  # parallel slanted lines: apart by the anchors' distance x sin(angle), at least a line high
                at = [np.array(t.get_transform().transform(t.get_position())) for t in turned]
                gap = min(np.linalg.norm(q - p) for p, q in zip(at, at[1:])) * np.sin(np.radians(turned[0].get_rotation()))
                assert gap >= turned[0].get_fontsize() * fig.dpi / 72, [t.get_text() for t in ticks]
            else:
                boxes = [t.get_window_extent(renderer) for t in ticks]
                assert not any(b.overlaps(c) for b, c in zip(boxes, boxes[1:])), [t.get_text() for t in ticks]

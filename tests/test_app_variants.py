"""Variant thumbnails show the result's own colours, picked or not."""
import numpy as np

from app.imaging import thumbnail_array
from app.variants import VariantStrip


def _dominant(widget) -> tuple[int, int, int]:
    img = widget.grab().toImage()
    counts: dict = {}
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            c = img.pixelColor(x, y)
            key = (c.red() // 16, c.green() // 16, c.blue() // 16)
            counts[key] = counts.get(key, 0) + 1
    reddish = {k: n for k, n in counts.items() if k[0] > 2 * max(k[1], k[2], 1)}
    return max(reddish, key=reddish.get) if reddish else (0, 0, 0)


def test_the_picked_thumbnail_is_not_tinted(qtbot):
    strip = VariantStrip()
    qtbot.addWidget(strip)
    region = np.zeros((48, 48, 3), np.float32)
    region[..., 0], region[..., 1] = 0.8, 0.2  # a brick red
    strip.add_variant(0, thumbnail_array(region))
    strip.resize(200, 150)
    strip.show()
    assert strip.currentRow() == 0  # the first variant is picked
    r, g, b = _dominant(strip)
    assert r >= 11 and g <= 5 and b <= 2  # about (204, 51, 0), not blended with the selection colour

"""Gray stays gray (core.engines.gray): every registered engine fills an RGB image whose channels agree with an
exactly gray hole, keeps known pixels exact, and passes previews and colour images through untouched."""
import numpy as np
import pytest

from core.engines.base import InpaintRequest, Preview, Result
from core.engines.gray import GrayAware, is_gray
from core.engines.registry import default_registry
from core.masks import Box

pytestmark = pytest.mark.usefixtures("torch_threads_1")

# Small settings so that the trained engines take a second or two here.
QUICK = {"internal": dict(preset="fast", train_steps=4, steps=2, options={"cache": False, "preview_every": 0}),
         "esdiff": dict(steps=2), "grig": dict()}


class SpyEngine:
    """An engine that records the channel count it is given and returns its input."""

    name = "spy"
    capabilities = None

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def run(self, request):
        self.seen.append(request.image.shape[2])
        h, w = request.image.shape[:2]
        yield Result(request.image.copy(), Box(0, 0, h, w), 0, {}, base=request.image)


def _hole() -> np.ndarray:
    """The fixtures' 20 x 24 px hole in a 48 x 48 image."""
    mask = np.zeros((48, 48), bool)
    mask[14:34, 12:36] = True
    return mask


@pytest.fixture
def gray_rgb(make_texture):
    g = make_texture(48, 48, 1, seed=4)
    img = np.repeat(g, 3, axis=2).copy()
    img[:, :, 1] += 0.5 / 255  # within the tolerance: a gray saved by a tool that rounds each channel its own way
    return np.clip(img, 0, 1).astype(np.float32), _hole()


@pytest.mark.parametrize("name", default_registry().names())
def test_every_engine_fills_a_gray_rgb_image_with_exact_gray(name, gray_rgb):
    img, mask = gray_rgb
    engine = default_registry().get(name)
    events = list(engine.run(InpaintRequest(img.copy(), mask, seed=0, **QUICK.get(name, {}))))
    result = [ev for ev in events if isinstance(ev, Result)][-1]
    out = result.image
    assert out.shape == img.shape and np.array_equal(out[~mask], img[~mask])
    hole = out[mask]
    assert np.array_equal(hole[:, 0], hole[:, 1]) and np.array_equal(hole[:, 1], hole[:, 2])
    assert result.info.get("gray") is True
    for ev in events:
        if isinstance(ev, Preview):
            assert ev.image.shape[2] == 3  # previews come back in the document's channels


def test_colour_and_alpha_images_are_told_apart(make_texture):
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    colour = make_texture(16, 16, 3, seed=1)
    gray_rgba = np.concatenate([np.repeat(colour[:, :, :1], 3, axis=2), colour[:, :, 1:2]], axis=2)
    assert not is_gray(colour, mask) and is_gray(gray_rgba, mask)
    assert not is_gray(colour[:, :, :1], mask)  # already one channel: nothing to do
    tinted = np.repeat(colour[:, :, :1], 3, axis=2)
    tinted[0, 0, 2] += 2 / 255  # one known pixel with a tint beyond the tolerance
    assert not is_gray(tinted, mask)
    tinted[~mask] = np.repeat(colour[:, :, :1], 3, axis=2)[~mask]
    tinted[5, 5, 2] = 1.0  # a tint inside the hole does not count: those pixels are being replaced
    assert is_gray(tinted, mask)


def test_gray_rgba_keeps_its_alpha_channel_through_the_engine(make_texture):
    seen = []
    g = make_texture(16, 16, 2, seed=3)
    rgba = np.concatenate([np.repeat(g[:, :, :1], 3, axis=2), g[:, :, 1:]], axis=2)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    out = [ev for ev in GrayAware(SpyEngine(seen)).run(InpaintRequest(rgba, mask)) if isinstance(ev, Result)][0].image
    assert seen == [2]  # gray + alpha went in
    assert out.shape == (16, 16, 4) and np.allclose(out[:, :, 3], rgba[:, :, 3])


def test_requests_that_name_channels_by_index_run_as_they_are(make_texture):
    seen = []
    gray = np.repeat(make_texture(16, 16, 1, seed=2), 3, axis=2)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    for options in ({}, {"seam_channels": [0, 2]}):
        list(GrayAware(SpyEngine(seen)).run(InpaintRequest(gray, mask, options=options)))
    five = np.concatenate([gray, gray[:, :, :2]], axis=2)  # a stack of five channels is not an image
    list(GrayAware(SpyEngine(seen)).run(InpaintRequest(five, mask)))
    assert seen == [1, 3, 5]


@pytest.fixture
def near_gray_rgb(make_texture):
    """A gray texture with a warm cast and a little per-channel noise: nearly gray, not gray."""
    g = make_texture(48, 48, 1, seed=6)
    rng = np.random.default_rng(1)
    img = np.repeat(g, 3, axis=2) + np.array([0.03, 0.0, -0.02]) + rng.uniform(-0.01, 0.01, (48, 48, 3))
    return np.clip(img, 0, 1).astype(np.float32), _hole()


@pytest.mark.parametrize("name", default_registry().names())
def test_every_engine_gives_a_nearly_gray_image_no_colour_its_known_pixels_lack(name, near_gray_rgb):
    img, mask = near_gray_rgb
    events = list(default_registry().get(name).run(InpaintRequest(img.copy(), mask, seed=0, **QUICK.get(name, {}))))
    result = [ev for ev in events if isinstance(ev, Result)][-1]
    out = result.image
    assert np.array_equal(out[~mask], img[~mask]) and result.info.get("near_gray") is True
    chroma = lambda px: px - px.mean(axis=1, keepdims=True)  # noqa: E731
    known, hole = chroma(img[~mask]), chroma(out[mask])
    assert (hole >= known.min(axis=0) - 1e-5).all() and (hole <= known.max(axis=0) + 1e-5).all()


def test_a_tint_is_pulled_back_to_the_known_chroma_and_colour_images_pass_untouched(near_gray_rgb, make_texture):
    """An engine that paints the hole green: on a nearly gray image the green goes, the brightness stays; on a
    colour image nothing is changed."""
    img, mask = near_gray_rgb

    class GreenEngine:
        name, capabilities = "green", None

        def run(self, request):
            out = np.array(request.image, np.float32)
            out[request.mask] = [0.2, 0.8, 0.2]
            h, w = out.shape[:2]
            yield Result(out, Box(0, 0, h, w), 0, {}, base=request.image)

    out = [ev for ev in GrayAware(GreenEngine()).run(InpaintRequest(img.copy(), mask)) if isinstance(ev, Result)][-1]
    hole = out.image[mask]
    assert np.allclose(hole.mean(axis=1), 0.4, atol=1e-5)  # brightness kept
    assert (hole[:, 1] - hole.mean(axis=1)).max() < 0.02  # the green is gone: at most the known pixels' own cast
    colour = make_texture(48, 48, 3, seed=2)
    out = [ev for ev in GrayAware(GreenEngine()).run(InpaintRequest(colour.copy(), mask)) if isinstance(ev, Result)][-1]
    assert np.allclose(out.image[mask], [0.2, 0.8, 0.2]) and "near_gray" not in out.info

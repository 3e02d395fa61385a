"""Reference map sets in material mode (#25): the engine panel's reference list takes material folders when a map
set is open (one row per set: its base colour, the folder's name, how many maps), refuses a set whose maps do not
fit the open material with the core's message, keeps the image references and the map sets apart, and the
material run hands the sets to ``inpaint_material`` as ``references`` (the own share as an option, for an engine
that trains)."""
from __future__ import annotations

import numpy as np
import pytest

from app import dialogs, material_doc
from app_helpers import FakeEngine, make_window, select_engine, texture_u8, write_png
from core.engines.base import Capabilities
from core.engines.registry import Registry, register_builtin
from core.material import MapSet, MaterialRepair, load_map_set
from test_material_fixtures import write_material

H = W = 32


def _registry() -> tuple[Registry, dict[str, FakeEngine]]:
    """The built-in engines, plus ``taker`` (trains, takes references) and ``copier`` (takes references, trains
    not: no own share), both recording their requests."""
    reg = Registry()
    register_builtin(reg)
    engines = {}
    for name, caps in (("taker", Capabilities(title="Taker", description="learns from references",
                                              trains_per_image=True, supports_references=True)),
                       ("copier", Capabilities(title="Copier", description="copies from references",
                                               supports_references=True))):
        engines[name] = FakeEngine(name, caps)
        reg.register(name, caps, lambda e=engines[name]: e)
    return reg, engines


def _hole() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[10:18, 12:20] = True
    return m


@pytest.fixture
def materials(tmp_path):
    """The material repaired (``mat``), one that fits it (``ref``) and the folders of sets that do not."""
    mat, ref = tmp_path / "Mat", tmp_path / "Ref_Stone"
    write_material(mat, H, W, seed=0)
    write_material(ref, 40, 36, seed=5)  # another size is fine: maps are matched by kind
    no_height = tmp_path / "NoHeight"
    write_material(no_height, H, W, seed=6)
    (no_height / "Mat_Height.png").unlink()
    gray_base = tmp_path / "GrayBase"
    write_material(gray_base, H, W, seed=7)
    write_png(gray_base / "Mat_BaseColor.png", texture_u8(H, W, 1))
    return {"mat": mat, "ref": ref, "no_height": no_height, "gray_base": gray_base, "empty": tmp_path / "Empty"}


@pytest.fixture
def recorded(monkeypatch):
    """Every call of ``inpaint_material`` by the material runner: its ``references`` and other arguments."""
    calls: list[dict] = []
    real = material_doc.inpaint_material

    def recording(mapset, mask, engine, separate, registry, references=(), **kw):
        calls.append({"engine": engine, "references": list(references), **kw})
        return real(mapset, mask, engine, separate, registry, references=references, **kw)

    monkeypatch.setattr(material_doc, "inpaint_material", recording)
    return calls


def _run(qtbot, w) -> None:
    w.doc.set_mask(_hole(), "hole")
    with qtbot.waitSignal(w.controller.finished, timeout=60000):
        assert w.inpaint()


def test_adding_a_map_set_lists_it_and_remove_takes_it_away(qtbot, settings, errors, answers, materials,
                                                            monkeypatch):
    reg, _ = _registry()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.open_path(materials["mat"]) and w.mode is w.material_mode
    sets, panel = w.panel.reference_sets, w.panel
    assert panel.references_box.isVisibleTo(w) and sets.isVisibleTo(w) and not panel.references.isVisibleTo(w)
    assert panel.references_box.text() == "Reference map sets" and "folders of maps" in sets.note.text()
    asked = []
    monkeypatch.setattr(dialogs, "open_folder_path",
                        lambda _p, _f, title: asked.append(title) or str(materials["ref"]))
    sets.add_button.click()  # Add… asks for a folder
    assert asked and "folder" in asked[0] and not errors
    assert sets.count() == 1 and sets.list.count() == 1 and sets.list.isVisibleTo(w)
    row = sets.list.item(0)
    assert row.text().splitlines() == ["Ref_Stone", "5 maps · 36×40"]
    assert str(materials["ref"]) in row.toolTip() and "Mat_Height.png" in row.toolTip()
    thumb = row.icon().pixmap(48, 48).toImage()
    assert not row.icon().isNull() and thumb.width() > 0
    (ref,) = sets.map_sets()
    assert isinstance(ref, MapSet) and ref.folder == materials["ref"] and len(ref.maps) == 5
    # the row's picture is the base colour: its mean colour, as the thumbnail shows it
    base = ref.get("basecolor").image.pixels.reshape(-1, 3).mean(0)
    px = np.array([[thumb.pixelColor(x, y).getRgb()[:3] for x in range(thumb.width())]
                   for y in range(thumb.height())]).reshape(-1, 3)
    opaque = np.array([[thumb.pixelColor(x, y).alpha() for x in range(thumb.width())]
                       for y in range(thumb.height())]).reshape(-1) > 0
    assert np.abs(px[opaque].mean(0) - base).max() < 12
    assert panel.references_box.text() == "Reference map sets (1)" and panel.references.count() == 0
    assert panel.reference_map_sets() == [ref]
    sets.list.item(0).setSelected(True)
    assert sets.remove_button.isEnabled()
    sets.remove_button.click()
    assert sets.count() == 0 and sets.list.count() == 0 and panel.references_box.text() == "Reference map sets"
    w.close()


def test_material_run_hands_the_sets_to_inpaint_material_not_as_the_image_option(qtbot, settings, errors, answers,
                                                                                   materials, recorded):
    reg, engines = _registry()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.open_path(materials["mat"])
    assert w.panel.reference_sets.add_folder(materials["ref"])
    w.panel.reference_sets.share.setValue(30)
    own, ref = w.doc.mapset, load_map_set(materials["ref"])
    expected = MaterialRepair(own, _hole(), "taker", registry=reg, references=[ref])
    (job,) = expected.jobs
    (want,) = expected.job_options(job)["references"]
    _run(qtbot, w)
    assert not errors, errors
    (call,) = recorded
    (sent,) = call["references"]
    assert isinstance(sent, MapSet) and sent.folder == materials["ref"]
    assert "references" not in call["options"] and call["options"]["own_share"] == pytest.approx(0.3)
    # the engine got the set stacked like the material (every modelled column, by kind), and the share
    req = engines["taker"].requests[-1]
    (got,) = req.options["references"]
    assert got.shape == want.shape == (40, 36, expected.plan.n_model) and req.image.shape[2] == got.shape[2]
    np.testing.assert_array_equal(got, want)
    assert req.options["own_share"] == pytest.approx(0.3)
    assert not w.doc.mask.any()  # the repair applied
    # an engine that copies and does not train gets the sets, and no share to divide
    select_engine(w, "copier")
    assert not w.panel.reference_sets.share.isVisibleTo(w)
    _run(qtbot, w)
    assert not errors, errors
    assert len(recorded[-1]["references"]) == 1 and "own_share" not in recorded[-1]["options"]
    assert len(engines["copier"].requests[-1].options["references"]) == 1
    w.close()


def test_image_references_and_map_sets_stay_apart(qtbot, settings, errors, answers, materials, recorded,
                                                  image_files):
    reg, engines = _registry()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.open_path(image_files["rgb8"][0])
    assert w.panel.references.isVisibleTo(w) and not w.panel.reference_sets.isVisibleTo(w)
    assert w.panel.references_box.text() == "Reference images"
    assert w.panel.references.add_files([image_files["gray8"][0]])
    # a material: its run gets its own list (empty at first), never the image's
    assert w.open_path(materials["mat"])
    assert w.panel.references_box.text() == "Reference map sets"
    _run(qtbot, w)
    assert recorded[-1]["references"] == [] and "references" not in recorded[-1]["options"]
    assert "own_share" not in recorded[-1]["options"]
    assert "references" not in engines["taker"].requests[-1].options
    assert w.panel.reference_sets.add_folder(materials["ref"])
    _run(qtbot, w)
    (sent,) = recorded[-1]["references"]
    assert isinstance(sent, MapSet)
    (got,) = engines["taker"].requests[-1].options["references"]
    assert got.shape[:2] == (40, 36)  # the set's maps, not the 48 x 40 image
    # back to an image: its own reference, no map set
    n_calls = len(recorded)
    assert w.open_path(image_files["rgb8"][0])
    assert w.panel.references_box.text() == "Reference images (1)" and w.panel.reference_map_sets() == []
    w.doc.set_mask(np.pad(np.ones((8, 8), bool), ((4, 36), (4, 28))), "hole")
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        assert w.inpaint()
    assert len(recorded) == n_calls  # no material run
    (img_ref,) = engines["taker"].requests[-1].options["references"]
    assert img_ref.shape == (48, 40, 3)  # the gray reference in the image's channels
    # and the material again finds its set waiting
    assert w.open_path(materials["mat"])
    assert w.panel.references_box.text() == "Reference map sets (1)" and len(w.panel.reference_map_sets()) == 1
    assert not errors, errors
    w.close()


@pytest.mark.parametrize("folder,words", [("no_height", "has no height map"), ("gray_base", "1 channel(s)"),
                                          ("empty", "no image files"), ("mat", "being repaired")])
def test_a_set_that_does_not_fit_is_refused_with_one_clear_message(qtbot, settings, errors, answers, materials,
                                                                   folder, words):
    materials["empty"].mkdir()
    reg, _ = _registry()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.open_path(materials["mat"])
    sets = w.panel.reference_sets
    assert sets.add_folder(materials["ref"])
    assert not sets.add_folder(materials[folder])
    assert len(errors) == 1 and errors[0][0] == "Cannot add the reference material" and words in errors[0][1]
    assert sets.count() == 1 and sets.list.count() == 1  # nothing lost, nothing added
    assert w.panel.references_box.text() == "Reference map sets (1)"
    w.close()


def test_a_set_added_for_another_material_is_marked_and_stops_the_run(qtbot, settings, errors, answers, materials,
                                                                      recorded, tmp_path):
    reg, engines = _registry()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.open_path(materials["mat"])
    sets = w.panel.reference_sets
    assert sets.add_folder(materials["ref"])
    other = tmp_path / "WithAO"
    write_material(other, H, W, seed=3, names={"height": "Mat_AO.png"})  # an AO map the reference has not
    assert w.open_path(other)
    assert "does not fit" in sets.list.item(0).text() and "has no ao map" in sets.list.item(0).toolTip()
    assert "does not fit" in sets.note.text()
    w.doc.set_mask(_hole(), "hole")
    assert not w.inpaint()
    assert len(errors) == 1 and errors[0][0] == "Cannot inpaint" and "has no ao map" in errors[0][1]
    assert not recorded and not engines["taker"].requests and w.doc.mask.any()
    # an engine that takes no references is not stopped by them: the list is not its business
    select_engine(w, "telea")
    assert not w.panel.references_box.isVisibleTo(w) and w.panel.reference_map_sets() == []
    with qtbot.waitSignal(w.controller.finished, timeout=20000):
        assert w.inpaint()
    assert len(errors) == 1 and recorded[-1]["references"] == [] and "own_share" not in recorded[-1]["options"]
    assert not w.doc.mask.any()
    # back on the material it was added for, the row is plain again
    assert w.open_path(materials["mat"])
    assert "does not fit" not in sets.list.item(0).text() and not sets.note.text()
    w.close()


@pytest.mark.parametrize("engine,overrides", [("patchmatch", {}),
                                              ("internal", {"preset": "fast", "train_steps": 2, "steps": 1})])
def test_real_engines_repair_a_material_with_a_reference_set(qtbot, settings, errors, answers, materials, recorded,
                                                             engine, overrides, torch_threads_1):
    reg, _ = _registry()
    if engine not in reg.names():
        pytest.skip(f"{engine} is not available here")
    w = make_window(qtbot, settings, reg)
    select_engine(w, engine)
    w.session.overrides = dict(overrides)
    assert w.open_path(materials["mat"])
    before = {m.name: m.image.pixels.copy() for m in w.doc.mapset.maps}
    assert w.panel.reference_sets.add_folder(materials["ref"])
    _run(qtbot, w)
    assert not errors, errors
    assert len(recorded[-1]["references"]) == 1
    assert ("own_share" in recorded[-1]["options"]) == (engine == "internal")
    hole = _hole()
    for m in w.doc.mapset.maps:
        px = m.image.pixels.reshape(H, W, -1)
        assert np.array_equal(px[~hole], before[m.name].reshape(H, W, -1)[~hole]), m.name
    base = w.doc.mapset.maps[0].image.pixels
    assert not np.array_equal(base[hole], before[w.doc.mapset.maps[0].name][hole])
    assert not w.doc.mask.any()
    w.close()


def test_image_references_with_an_engine_that_only_copies_send_no_share(qtbot, settings, errors, answers,
                                                                         image_files):
    """PatchMatch takes references and no ``own_share`` option (it would refuse the run): the panel sends none."""
    reg, engines = _registry()
    w = make_window(qtbot, settings, reg)
    assert w.open_path(image_files["rgb8"][0])
    assert w.panel.references.add_files([image_files["rgb16"][0]])
    select_engine(w, "copier")
    assert not w.panel.references.share.isVisibleTo(w)
    kw = w.panel.request_kwargs()
    assert len(kw["options"]["references"]) == 1 and "own_share" not in kw["options"]
    if "patchmatch" in reg.names():
        select_engine(w, "patchmatch")
        w.doc.set_mask(np.pad(np.ones((8, 8), bool), ((4, 36), (4, 28))), "hole")
        with qtbot.waitSignal(w.controller.finished, timeout=20000):
            assert w.inpaint()
        assert not errors, errors
        assert not w.doc.mask.any()
    select_engine(w, "taker")
    assert w.panel.references.share.isVisibleTo(w)
    assert w.panel.request_kwargs()["options"]["own_share"] == 0.5
    w.close()

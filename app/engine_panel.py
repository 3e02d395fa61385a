"""The engine settings, built only from the registry's declared capabilities.

Each engine gets the rows its ``Capabilities`` call for (preset, sampler, steps, seed, variants,
device, training steps, references); nothing here knows any engine by name. Choices are remembered
per engine in QSettings; the references (app/references.py) for the session: reference images for an image,
reference map sets for a material, two lists kept apart (``set_reference_kind``). A note says whether the
engine takes the document's sampling area (``supports_source``) when one is painted.
"""
from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QToolButton, QVBoxLayout,
                               QWidget)
from superqt import QCollapsible

from app import theme
from app.references import MapSetList, ReferenceList
from core.engines.base import Capabilities
from core.engines.registry import Registry
from core.material import MapSet

AUTO = "auto"
IMAGES, MAP_SETS = "images", "map sets"  # what the references are (DocumentMode.reference_kind)
MAX_SEED = 2**31 - 1


class EnginePanel(QWidget):
    changed = Signal()

    def __init__(self, registry: Registry, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.settings = settings
        self._channels: int | None = None
        self._fields: dict[str, QWidget] = {}
        self._source_painted = False

        self.engine_combo = QComboBox()
        self.engine_combo.setToolTip("Which method fills the hole")
        for entry in registry.entries():
            self.engine_combo.addItem(entry.capabilities.title, entry.name)
            self.engine_combo.setItemData(self.engine_combo.count() - 1, entry.capabilities.description,
                                          Qt.ItemDataRole.ToolTipRole)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setProperty("role", "muted")
        self.badges = QLabel()
        self.badges.setProperty("role", "muted")
        self.source_note = QLabel()
        self.source_note.setWordWrap(True)
        self.source_note.setProperty("role", "muted")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # A right-pointing triangle while closed, pointing down when open: the usual disclosure convention
        # (superqt defaults to an up-pointing one while closed).
        self.advanced = QCollapsible("Advanced", expandedIcon="▾", collapsedIcon="▸")
        self.advanced_form = QFormLayout()
        adv = QWidget()
        adv.setLayout(self.advanced_form)
        self.advanced.addWidget(adv)
        def last_folder() -> str:
            return str(settings.value("files/last_folder", str(Path.home())))

        self.references = ReferenceList(last_folder)  # for an image
        self.reference_sets = MapSetList(last_folder)  # for a material
        self._reference_kind = IMAGES
        self.references_box = QCollapsible("Reference images", expandedIcon="▾", collapsedIcon="▸")
        self.references_box.addWidget(self.references)
        self.references_box.addWidget(self.reference_sets)
        self.reference_sets.hide()
        # no bottom margin: stacked on "Advanced", two collapsed boxes would leave a gap twice as wide
        self.references_box.layout().setContentsMargins(11, 11, 11, 0)
        self.references.changed.connect(self._on_references_changed)
        self.reference_sets.changed.connect(self._on_references_changed)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.engine_combo)
        lay.addWidget(self.description)
        lay.addWidget(self.badges)
        lay.addWidget(self.source_note)
        lay.addLayout(self.form)
        lay.addWidget(self.references_box)
        lay.addWidget(self.advanced)

        saved = str(settings.value("engine/name", ""))
        names = registry.names()
        learners = [e.name for e in registry.entries() if e.capabilities.trains_per_image]
        default = saved if saved in names else (learners[0] if learners else names[0])
        self.engine_combo.setCurrentIndex(max(0, self.engine_combo.findData(default)))
        self.engine_combo.currentIndexChanged.connect(self._on_engine_changed)
        self._build()

    # -- public ---------------------------------------------------------------------------------------------
    def engine_name(self) -> str:
        return str(self.engine_combo.currentData())

    def capabilities(self) -> Capabilities:
        return self.registry.capabilities(self.engine_name())

    def field(self, name: str) -> QWidget | None:
        """The widget for a setting (preset, sampler, steps, seed, variants, device, train_steps), if shown."""
        return self._fields.get(name)

    def request_kwargs(self) -> dict:
        """The InpaintRequest keyword arguments for the current choices."""
        caps = self.capabilities()
        kw: dict = {}
        if "preset" in self._fields:
            kw["preset"] = self._fields["preset"].currentData()
        elif caps.presets:
            kw["preset"] = caps.presets[0]
        if "sampler" in self._fields and self._fields["sampler"].currentData() != AUTO:
            kw["sampler"] = self._fields["sampler"].currentData()
        if "steps" in self._fields and self._fields["steps"].value() > 0:
            kw["steps"] = self._fields["steps"].value()
        if "seed" in self._fields:
            kw["seed"] = self._fields["seed"].value()
        if "variants" in self._fields:
            kw["variants"] = self._fields["variants"].value()
        if "device" in self._fields:
            kw["device"] = self._fields["device"].currentData()
        if "train_steps" in self._fields and self._fields["train_steps"].value() > 0:
            kw["train_steps"] = self._fields["train_steps"].value()
        options = {}
        if "weights" in self._fields and self._fields["weights"].currentData():
            options["weights"] = self._fields["weights"].currentData()
        if "seam" in self._fields and self._fields["seam"].currentData():
            options["seam"] = self._fields["seam"].currentData()
        if "recipe" in self._fields and self._fields["recipe"].currentData():
            options["recipe"] = self._fields["recipe"].currentData()
        if caps.supports_references:
            if self._reference_kind == IMAGES:
                options.update(self.references.options(self._channels))
            else:  # the sets themselves go to the material run (reference_map_sets), not as an option
                options.update(self.reference_sets.share_option())
        if options:
            kw["options"] = options
        return kw

    # -- weights of pretrained engines ----------------------------------------------------------------------
    def weights_files(self, engine: str) -> list[str]:
        """The user's own weights files for ``engine`` (trained or added), most recent first."""
        value = self.settings.value(f"engine/{engine}/weights_files", [])
        files = [value] if isinstance(value, str) else list(value or [])
        return [f for f in files if f]

    def add_weights(self, engine: str, path: str, select: bool = True) -> None:
        """Offer ``path`` as weights for ``engine`` (after training, or picked by the user)."""
        files = [path] + [f for f in self.weights_files(engine) if f != path]
        self.settings.setValue(f"engine/{engine}/weights_files", files[:10])
        if select:
            self.settings.setValue(f"engine/{engine}/weights", path)
        if engine == self.engine_name():
            self._build()
            self.changed.emit()

    def _browse_weights(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "", "Weights (*.safetensors)")
        if path:
            self.add_weights(self.engine_name(), path)

    def set_image_channels(self, channels: int | None) -> None:
        self._channels = channels
        self._update_badges()

    def set_source_painted(self, painted: bool) -> None:
        """Whether the document has a sampling area (the note says if the engine takes it)."""
        self._source_painted = painted
        self._update_source_note()

    def set_reference_kind(self, kind: str) -> None:
        """Which references the open document takes: IMAGES (an image) or MAP_SETS (a material). The other
        list is kept, hidden, for when a document of its kind opens again, and never reaches a run."""
        self._reference_kind = kind
        self.references.setVisible(kind == IMAGES)
        self.reference_sets.setVisible(kind == MAP_SETS)
        self._on_references_changed()

    def active_references(self) -> ReferenceList | MapSetList:
        """The reference list shown: the one for the open document's kind."""
        return self.references if self._reference_kind == IMAGES else self.reference_sets

    def reference_map_sets(self) -> list[MapSet]:
        """The reference map sets a material run gets: none unless a material is open and the engine takes
        references."""
        if self._reference_kind != MAP_SETS or not self.capabilities().supports_references:
            return []
        return self.reference_sets.map_sets()

    def unsupported_reason(self) -> str | None:
        """Why the current engine cannot run on the open image, or None."""
        caps = self.capabilities()
        if self._channels is not None and caps.max_channels is not None and self._channels > caps.max_channels:
            return f"{caps.title} handles at most {caps.max_channels} channels; this image has {self._channels}"
        return None

    def set_busy(self, busy: bool) -> None:
        self.engine_combo.setEnabled(not busy)
        for w in self._fields.values():
            w.setEnabled(not busy)
        self.references.set_busy(busy)
        self.reference_sets.set_busy(busy)

    # -- building ---------------------------------------------------------------------------------------------
    def _key(self, field: str) -> str:
        return f"engine/{self.engine_name()}/{field}"

    def _on_engine_changed(self) -> None:
        self.settings.setValue("engine/name", self.engine_name())
        self._build()
        self.changed.emit()

    def _clear(self, form: QFormLayout) -> None:
        while form.rowCount():
            form.removeRow(0)

    def _build(self) -> None:
        caps = self.capabilities()
        self._clear(self.form)
        self._clear(self.advanced_form)
        self._fields = {}
        self.description.setText(caps.description)
        self._update_badges()
        self._update_source_note()
        self.references_box.setVisible(caps.supports_references)
        for refs in (self.references, self.reference_sets):
            refs.set_shares(caps.trains_per_image)

        if caps.presets:
            combo = QComboBox()
            for p in caps.presets:
                combo.addItem(p.capitalize(), p)
            self._restore_combo(combo, "preset", "fast" if "fast" in caps.presets else caps.presets[0])
            combo.setToolTip("Speed against quality; the steps below override it")
            self._add("preset", "Preset", combo)
        if caps.samplers:
            combo = QComboBox()
            default = caps.default_sampler or caps.samplers[0]
            combo.addItem(f"Preset's ({default})", AUTO)
            for s in caps.samplers:
                combo.addItem(s.upper(), s)
            self._restore_combo(combo, "sampler", AUTO)
            combo.setToolTip("The diffusion sampler used to fill the hole")
            self._add("sampler", "Sampler", combo)
        if caps.supports_steps:
            spin = self._spin(0, 1000, "steps", 0, special="Preset's")
            spin.setToolTip("Sampling steps (0 = what the preset uses)")
            self._add("steps", "Steps", spin)
        if caps.supports_seed:
            spin = self._spin(0, MAX_SEED, "seed", 0)
            spin.setToolTip("Same seed and settings give the same result")
            dice = QToolButton()
            dice.setIcon(theme.icon("mdi6.dice-multiple-outline"))
            dice.setToolTip("A new random seed")
            dice.clicked.connect(lambda: spin.setValue(random.randint(0, 99999)))
            self._add("seed", "Seed", spin, dice)
        if caps.supports_variants:
            spin = self._spin(1, 8, "variants", 1)
            spin.setToolTip("How many different fills to make and pick from")
            self._add("variants", "Variants", spin)
        if len(caps.devices) > 1:
            combo = QComboBox()
            combo.addItem("Auto", AUTO)
            for d in caps.devices:
                combo.addItem(d.upper(), d)
            self._restore_combo(combo, "device", AUTO)
            self._add("device", "Device", combo)
        if caps.needs_weights:
            combo = QComboBox()
            combo.addItem("Shipped with Reweave", "")
            for f in self.weights_files(self.engine_name()):
                combo.addItem(Path(f).stem, f)
                combo.setItemData(combo.count() - 1, f, Qt.ItemDataRole.ToolTipRole)
            self._restore_combo(combo, "weights", "")
            combo.setToolTip("The model's weights: the shipped ones, or ones trained on your images "
                             "(Run > Train Model on Folder…)")
            add = QToolButton()
            add.setIcon(theme.icon("mdi6.folder-open-outline"))
            add.setToolTip("Use a weights file (.safetensors)")
            add.clicked.connect(self._browse_weights)
            self._add("weights", "Weights", combo, add)
        if caps.harmonizes_seams:
            combo = QComboBox()
            # "Auto" sends no option: the engine decides (the internal engine's patch recipe leaves seams alone)
            combo.addItem("Auto (the engine's choice)", "")
            combo.addItem("Match the surroundings", "final")
            combo.addItem("Match at every step", "steps")
            combo.addItem("Off (the model's own colours)", "off")
            self._restore_combo(combo, "seam", "")
            combo.setToolTip("Shift the fill's colours to meet the pixels around the hole, keeping its "
                             "texture: as the engine sees fit, on the result, at every sampling step (smoother), "
                             "or not at all")
            self._fields["seam"] = combo
            self.advanced_form.addRow("Seam", combo)
        if caps.recipes:
            combo = QComboBox()
            combo.addItem("Auto (by the hole)", "")
            names = {"patch": "Repair a content-aware fill", "noise": "From noise (invent)"}
            for recipe in caps.recipes:
                combo.addItem(names.get(recipe, recipe), recipe)
            self._restore_combo(combo, "recipe", "")
            combo.setToolTip("Where the model starts: a content-aware fill (PatchMatch) it repairs -- seams, "
                             "misaligned structure -- or pure noise, from which it invents the fill")
            self._fields["recipe"] = combo
            self.advanced_form.addRow("Start", combo)
        if caps.trains_per_image:
            spin = self._spin(0, 100000, "train_steps", 0, special="Preset's")
            spin.setToolTip("Training steps on this image (0 = what the preset uses)")
            self._fields["train_steps"] = spin
            self.advanced_form.addRow("Training steps", spin)
        self.advanced.setVisible(self.advanced_form.rowCount() > 0)

    def _update_badges(self) -> None:
        caps = self.capabilities()
        tags = []
        if caps.instant:
            tags.append("instant")
        if caps.trains_per_image:
            tags.append("trains on the open image first")
        if caps.needs_weights:
            tags.append("pretrained weights")
        reason = self.unsupported_reason()
        text = " · ".join(tags)
        if reason:
            text = f"<span style='color:#e5534b'>{reason}</span>"
        self.badges.setText(text)
        self.badges.setVisible(bool(text))

    def _update_source_note(self) -> None:
        if not self._source_painted:
            text = ""
        elif self.capabilities().supports_source:
            text = "Takes its material only from the sampling area (teal)."
        else:
            text = "<span style='color:#d9a23a'>This engine ignores the sampling area.</span>"
        self.source_note.setText(text)
        self.source_note.setVisible(bool(text))

    def _on_references_changed(self) -> None:
        n = self.active_references().count()
        title = "Reference images" if self._reference_kind == IMAGES else "Reference map sets"
        self.references_box.setText(f"{title} ({n})" if n else title)
        self.changed.emit()

    def _add(self, name: str, label: str, widget: QWidget, button: QWidget | None = None) -> None:
        """A form row for setting ``name``; ``button`` (a dice, a file picker) sits to the widget's right."""
        self._fields[name] = widget
        if button is None:
            self.form.addRow(label, widget)
            return
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(widget, 1)
        h.addWidget(button)
        self.form.addRow(label, row)

    def _spin(self, lo: int, hi: int, key: str, default: int, special: str | None = None) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        if special:
            spin.setSpecialValueText(special)
        try:
            spin.setValue(int(self.settings.value(self._key(key), default)))
        except (TypeError, ValueError):
            spin.setValue(default)
        spin.valueChanged.connect(lambda v, k=key: self.settings.setValue(self._key(k), v))
        return spin

    def _restore_combo(self, combo: QComboBox, key: str, default: str) -> None:
        idx = combo.findData(str(self.settings.value(self._key(key), default)))
        combo.setCurrentIndex(idx if idx >= 0 else max(0, combo.findData(default)))
        combo.currentIndexChanged.connect(
            lambda _i, c=combo, k=key: self.settings.setValue(self._key(k), c.currentData()))

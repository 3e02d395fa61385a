"""Material mode's view: ``MaterialView``, the map tabs above the canvas and the Material dock, which holds
the lit preview (``app.lit_preview``: the original and the current maps side by side under one light the
user drags) and the joint/separate choice."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QDockWidget, QTabBar, QVBoxLayout, QWidget

from app.lit_preview import LitPreview
from app.material_doc import MaterialDocument


class MaterialView(QObject):
    """Material mode's own view: the map tabs above the canvas and the Material dock (lit preview and the
    joint/separate choice). The window places both; ``show_document`` fills them for a map set or hides them.
    """

    map_shown = Signal(int)  # the document now shows this map; the canvas must follow

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.doc: MaterialDocument | None = None
        self.tabs = QTabBar()
        self.tabs.setDocumentMode(True)
        self.tabs.setExpanding(False)
        self.tabs.setToolTip("The maps of this material; the mask is shared by all of them")
        self.tabs.hide()
        self.lit = LitPreview()
        self.separate_check = QCheckBox("Repair each map separately (for comparison)")
        self.separate_check.setToolTip("Default: all maps stacked and repaired jointly by one model")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 4, 12, 8)
        lay.addWidget(self.lit, 1)
        lay.addWidget(self.separate_check)
        self.dock = QDockWidget("Material", parent)
        self.dock.setObjectName("material_dock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                              QDockWidget.DockWidgetFeature.DockWidgetFloatable)  # float it to see it larger
        self.dock.setWidget(body)
        self.dock.hide()
        self._sized = False
        self._shade_timer = QTimer(self)
        self._shade_timer.setSingleShot(True)
        self._shade_timer.setInterval(30)
        self._shade_timer.timeout.connect(self._refresh_shading)
        self.tabs.currentChanged.connect(self._on_tab)

    def show_document(self, doc: MaterialDocument | None) -> None:
        """One tab per map of ``doc`` and its lit preview; ``None`` empties and hides everything."""
        self.doc = doc
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        if doc is not None:
            for title in doc.map_titles():
                self.tabs.addTab(title)
            self.tabs.setCurrentIndex(0)
            doc.image_changed.connect(lambda _r: self._shade_timer.start())
        self.tabs.blockSignals(False)
        self.tabs.setVisible(doc is not None)
        self.dock.setVisible(doc is not None)
        window = self.parent()
        if doc is not None and not self._sized and not self.dock.isFloating() and hasattr(window, "resizeDocks"):
            # once a session: room for the two renders side by side (half the dock's width each) and captions
            self._sized = True
            window.resizeDocks([self.dock], [self.dock.width() // 2 + 110], Qt.Orientation.Vertical)
        self.separate_check.setChecked(False)
        self.lit.set_original(doc.original_mapset() if doc is not None else None)
        self._refresh_shading()

    def separate(self) -> bool:
        return self.separate_check.isChecked()

    def _on_tab(self, index: int) -> None:
        if self.doc is None or index < 0 or index == self.doc.current:
            return
        self.doc.show_map(index)
        self.map_shown.emit(index)

    def _refresh_shading(self) -> None:
        if self.doc is not None:
            self.lit.set_current(self.doc.mapset, self.doc.differs_from_original())

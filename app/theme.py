"""Light and dark themes (Fusion + a palette), following the system unless the user picks one, and icons
from qtawesome drawn in the theme's text colour."""
from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor("#3d8ef0")
MASK_COLOR = QColor(255, 60, 110)  # the hole to fill
SOURCE_COLOR = QColor(20, 215, 185)  # the sampling area the fill takes its material from
MODES = ("system", "light", "dark")

_DARK = {
    "window": "#25272b", "base": "#1c1d20", "alt": "#2b2d31", "text": "#e3e5e8", "muted": "#9aa0a8",
    "button": "#303237", "mid": "#3a3d43", "canvas": "#18191b", "tooltip": "#33363b",
}
_LIGHT = {
    "window": "#eef0f3", "base": "#ffffff", "alt": "#f5f6f8", "text": "#1f2328", "muted": "#606872",
    "button": "#e4e7eb", "mid": "#c9ced5", "canvas": "#d9dce1", "tooltip": "#ffffff",
}

_current = dict(_DARK)
_current_dark = True


def system_prefers_dark() -> bool | None:
    """True/False when the platform says, None when it does not know (then we use dark, as image tools do)."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return None


def resolve_dark(mode: str) -> bool:
    if mode == "light":
        return False
    if mode == "dark":
        return True
    pref = system_prefers_dark()
    return True if pref is None else pref


def _palette(c: dict[str, str]) -> QPalette:
    p = QPalette()
    col = {k: QColor(v) for k, v in c.items()}
    p.setColor(QPalette.ColorRole.Window, col["window"])
    p.setColor(QPalette.ColorRole.WindowText, col["text"])
    p.setColor(QPalette.ColorRole.Base, col["base"])
    p.setColor(QPalette.ColorRole.AlternateBase, col["alt"])
    p.setColor(QPalette.ColorRole.Text, col["text"])
    p.setColor(QPalette.ColorRole.Button, col["button"])
    p.setColor(QPalette.ColorRole.ButtonText, col["text"])
    p.setColor(QPalette.ColorRole.ToolTipBase, col["tooltip"])
    p.setColor(QPalette.ColorRole.ToolTipText, col["text"])
    p.setColor(QPalette.ColorRole.PlaceholderText, col["muted"])
    p.setColor(QPalette.ColorRole.Mid, col["mid"])
    p.setColor(QPalette.ColorRole.Midlight, col["mid"])
    p.setColor(QPalette.ColorRole.Dark, col["base"])
    p.setColor(QPalette.ColorRole.Highlight, ACCENT)
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.Link, ACCENT)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, col["muted"])
    return p


def _stylesheet(c: dict[str, str]) -> str:
    accent = ACCENT.name()
    accent_hover = ACCENT.lighter(115).name()
    return f"""
    QToolBar {{ border: none; spacing: 2px; padding: 3px; }}
    QToolBar::separator {{ background: {c['mid']}; width: 1px; height: 1px; margin: 4px; }}
    QToolButton {{ border: 1px solid transparent; border-radius: 5px; padding: 3px; }}
    QToolButton:hover {{ background: {c['button']}; border-color: {c['mid']}; }}
    QToolButton:checked {{ background: {accent}; color: white; }}
    QDockWidget::title {{ padding: 6px 8px; background: {c['window']}; font-weight: 600; }}
    QPushButton#primary {{ background: {accent}; color: white; border: none; border-radius: 6px;
                           padding: 8px 14px; font-weight: 600; font-size: 11pt; }}
    QPushButton#primary:hover {{ background: {accent_hover}; }}
    QPushButton#primary:disabled {{ background: {c['mid']}; color: {c['muted']}; }}
    QPushButton {{ border-radius: 5px; padding: 5px 10px; }}
    QLabel[role="heading"] {{ font-weight: 600; color: {c['text']}; margin-top: 6px; }}
    QLabel[role="muted"] {{ color: {c['muted']}; }}
    QProgressBar {{ border: 1px solid {c['mid']}; border-radius: 4px; background: {c['base']};
                    height: 8px; text-align: center; }}
    QProgressBar::chunk {{ background: {accent}; border-radius: 3px; }}
    QListWidget {{ border: 1px solid {c['mid']}; border-radius: 4px; background: {c['base']}; }}
    QStatusBar {{ border-top: 1px solid {c['mid']}; }}
    QStatusBar QLabel {{ color: {c['muted']}; padding: 0 6px; }}
    """


def apply_theme(app: QApplication, mode: str = "system") -> bool:
    """Style the whole application; returns True when the dark theme was chosen."""
    global _current, _current_dark
    dark = resolve_dark(mode)
    _current_dark = dark
    _current = dict(_DARK if dark else _LIGHT)
    app.setStyle("Fusion")
    app.setPalette(_palette(_current))
    app.setStyleSheet(_stylesheet(_current))
    return dark


def color(name: str) -> QColor:
    """A colour of the current theme: window, base, text, muted, mid, canvas..."""
    return QColor(_current[name])


def is_dark() -> bool:
    return _current_dark


def icon(name: str, *, accent: bool = False) -> QIcon:
    """A qtawesome icon in the theme's text colour (white when the button is checked)."""
    main = ACCENT if accent else color("text")
    return qta.icon(name, color=main, color_disabled=color("mid"), color_on="white", color_active=main)

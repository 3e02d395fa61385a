"""``launch(argv)``: open the main window, or render it to a PNG with ``--screenshot``.

    python main.py [IMAGE [--mask MASK]]
    python main.py --screenshot OUT.png [IMAGE [--mask MASK]]

With no IMAGE the bundled sample opens, with its mask, so one click on Inpaint shows what Reweave does.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

SCREENSHOT_SIZE = (1440, 900)


def resources_dir() -> Path:
    """resources/ next to the code, or inside a PyInstaller bundle."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


@dataclass(frozen=True)
class LaunchArgs:
    image: str | None = None  # None: the bundled sample
    mask: str | None = None
    screenshot: str | None = None  # render the window to this PNG and exit


def _parse(argv: list[str]) -> LaunchArgs:
    ap = argparse.ArgumentParser(prog="main.py", description="Reweave: paint a mask, click Inpaint.")
    ap.add_argument("image", nargs="?", help="image to open (default: the bundled sample)")
    ap.add_argument("--mask", help="mask image (white = fill)")
    ap.add_argument("--screenshot", metavar="PNG", help="render the main window to PNG and exit")
    args = ap.parse_args(argv)
    return LaunchArgs(args.image, args.mask, args.screenshot)


def _application():
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Reweave")
        app.setOrganizationName("Reweave")
        app.setApplicationDisplayName("Reweave")
    return app


def _install_excepthook(window) -> None:
    """An unexpected error in a slot becomes a message box instead of a crash."""
    from app import dialogs

    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(details)
        try:
            dialogs.show_error(window, "Something went wrong",
                               f"{exc_type.__name__}: {exc}\n\nYour image and mask are kept; you can go on "
                               "working or save.", details)
        except Exception:
            pass

    sys.excepthook = hook


def _open_initial(window, image: str | None = None, mask: str | None = None) -> bool:
    """Open ``image`` (and ``mask``), or with no image the bundled sample and its mask."""
    if image:
        return window.open_path(image, mask, confirm=False)
    sample = resources_dir() / "sample.png"
    sample_mask = resources_dir() / "sample_mask.png"
    if not sample.exists():
        return True
    return window.open_path(sample, sample_mask if sample_mask.exists() else None, confirm=False)


def screenshot(out: str | os.PathLike, image: str | None = None, mask: str | None = None,
               size: tuple[int, int] = SCREENSHOT_SIZE) -> int:
    """Render the main window with IMAGE (and MASK) to ``out``; returns an exit status."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings

    from app import dialogs, theme
    from app.main_window import MainWindow

    app = _application()
    theme.apply_theme(app, "system")
    errors: list[str] = []
    tmp = ""
    original = dialogs.show_error
    dialogs.show_error = lambda _p, title, message, details="": errors.append(f"{title}: {message}")
    try:
        tmp = tempfile.mkdtemp(prefix="reweave-shot-")  # fresh settings: always the default-looking window
        settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(*size)
        ok = _open_initial(window, image, mask)
        if not ok:
            print(f"error: {errors[-1] if errors else 'cannot open ' + str(image)}", file=sys.stderr)
            return 2
        window.show()
        for _ in range(5):
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        window.canvas.fit()
        QCoreApplication.processEvents()
        pix = window.grab()
        if not pix.save(str(out), "PNG"):
            print(f"error: cannot write {out}", file=sys.stderr)
            return 2
        window.close()
        return 0
    finally:
        dialogs.show_error = original
        shutil.rmtree(tmp, ignore_errors=True)


def launch(argv: list[str]) -> int:
    """Run the desktop app (or the screenshot command); returns the process exit status."""
    try:
        args = _parse(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.screenshot:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
                and sys.platform.startswith("linux"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        return screenshot(args.screenshot, args.image, args.mask)

    from PySide6.QtCore import QTimer

    from app import theme
    from app.main_window import MainWindow
    from app.worker import warm_up_engines
    from core import runtime

    runtime.set_threads()
    app = _application()
    window = MainWindow()
    theme.apply_theme(app, window.theme_mode)
    window.set_theme(window.theme_mode)
    _install_excepthook(window)
    window.show()
    warm_up_engines()
    # Open after the window is up, so that a bad file shows its message over the window.
    QTimer.singleShot(0, lambda: _open_initial(window, args.image, args.mask)
                      or (window.doc is None and _open_initial(window)))
    return app.exec()

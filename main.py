"""Reweave's one entry point.

    python main.py [IMAGE [--mask MASK]]          open the GUI (the bundled sample when no IMAGE)
    python main.py --screenshot PNG [IMAGE ...]   render the main window offscreen to PNG and exit
    python main.py {commands} ...   headless CLI (core.cli)
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from core import runtime

    runtime.tune_allocator()  # before the first large allocation
    from core.commands import BY_NAME

    if argv and argv[0] in BY_NAME:
        from core.cli import main as cli_main

        return cli_main(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip().format(commands=" | ".join(BY_NAME)))
        return 0
    try:
        from app.gui import launch
    except ImportError as exc:
        print(f"error: the GUI needs PySide6, superqt and qtawesome ({exc}); "
              "install with: pip install -e '.[gui]'", file=sys.stderr)
        return 2
    return launch(argv)


if __name__ == "__main__":
    sys.exit(main())

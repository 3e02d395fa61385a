"""Reweave's desktop app: the Qt view over ``core`` (which never imports Qt).

Start it with ``python main.py [IMAGE]``; ``app.gui.launch`` is the entry point.
"""

from app.compat import guard_none_refcount as _guard

_guard()

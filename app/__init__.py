"""Reweave's desktop app: the Qt view over ``core`` (which never imports Qt).

Start it with ``python main.py [IMAGE]``; ``app.gui.launch`` is the entry point.
"""

"""Reweave's headless core: image I/O, masks, diffusion models, engines.

Nothing under ``core`` imports Qt; the CLI, tests and batch jobs use it with no display
(``tests/test_boundaries.py`` enforces this).
"""

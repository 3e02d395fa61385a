"""Inpainting engines behind one event interface (see ``base``), found by name in ``registry``."""

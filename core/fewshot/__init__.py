"""Few-shot engines: trained once on a handful of images, shipped as weights."""

"""Diffusion pieces as small pure parts: the noise schedule, the tiny UNet, the samplers."""

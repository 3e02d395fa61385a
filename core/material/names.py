"""Which map a file holds, from the tokens of its name, the way texture tools name their exports.

``Rock058_2K_NormalGL.png`` -> tokens rock, 058, 2, k, normal, gl -> a normal map with an OpenGL hint;
``T_Brick_BaseColor.tga`` -> t, brick, base, color -> base colour; ``wood_rough.jpg`` -> roughness.
The kind is taken from the *last* token that names one, because material names come first and map names
last (``metal_plate_diff_2k`` is a base colour, not a metallic map).
"""
from __future__ import annotations

import re
from pathlib import Path

BASECOLOR, NORMAL, ROUGHNESS, GLOSS = "basecolor", "normal", "roughness", "gloss"
METALLIC, SPECULAR, HEIGHT, AO, OTHER = "metallic", "specular", "height", "ao", "other"

# Case-insensitive tokens per kind, exactly the lists of issue 5. Multi-word names ("base_color") are
# matched on adjacent tokens joined, so BaseColor, base_color and base-color all work.
KIND_TOKENS: dict[str, tuple[str, ...]] = {
    BASECOLOR: ("diffuse", "diff", "albedo", "basecolor", "base_color", "col", "color"),
    NORMAL: ("normal", "nor", "nrm", "nrml", "norm"),
    ROUGHNESS: ("roughness", "rough", "rgh"),
    GLOSS: ("gloss", "glossiness"),
    METALLIC: ("metallic", "metalness", "metal", "mtl"),
    SPECULAR: ("specular", "spec", "spc"),
    HEIGHT: ("height", "displacement", "disp", "dsp", "bump"),
    AO: ("ao", "occlusion"),
}
_LOOKUP: dict[str, str] = {tok.replace("_", ""): kind for kind, toks in KIND_TOKENS.items() for tok in toks}

GL, DX = "gl", "dx"
CONVENTION_TOKENS: dict[str, str] = {"gl": GL, "opengl": GL, "ogl": GL, "dx": DX, "directx": DX, "d3d": DX}

# Display order of kinds (map switchers, contact sheets); unknown maps last.
KIND_ORDER = (BASECOLOR, NORMAL, ROUGHNESS, GLOSS, METALLIC, SPECULAR, HEIGHT, AO, OTHER)
KIND_TITLES = {BASECOLOR: "Base colour", NORMAL: "Normal", ROUGHNESS: "Roughness", GLOSS: "Glossiness",
               METALLIC: "Metallic", SPECULAR: "Specular", HEIGHT: "Height", AO: "Ambient occlusion",
               OTHER: "Other"}
# Only the base colour holds colours for the eye (sRGB-encoded); every other map holds linear data.
SRGB_KINDS = frozenset({BASECOLOR})

# camelCase / PascalCase / acronyms / digits: "NormalGL" -> Normal, GL; "BaseColor" -> Base, Color;
# "Rock058" -> Rock, 058; "AOMap" -> AO, Map.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def tokenize(stem: str) -> list[str]:
    """Lower-case tokens of a file stem, split on separators, case changes and digit runs."""
    tokens: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", stem):
        tokens.extend(w.lower() for w in _WORD.findall(part))
    return tokens


def detect_kind(name: str | Path) -> str:
    """The map kind a file name announces (``KIND_ORDER``), ``OTHER`` when none does."""
    tokens = tokenize(Path(name).stem)
    for i in range(len(tokens) - 1, -1, -1):
        # The pair ending here first, so "base color" is one name rather than a bare "color".
        if i > 0 and tokens[i - 1] + tokens[i] in _LOOKUP:
            return _LOOKUP[tokens[i - 1] + tokens[i]]
        if tokens[i] in _LOOKUP:
            return _LOOKUP[tokens[i]]
    return OTHER


def convention_hint(name: str | Path) -> str | None:
    """``GL`` or ``DX`` when the file name says which normal-map convention it uses, else None."""
    tokens = tokenize(Path(name).stem)
    for i in range(len(tokens) - 1, -1, -1):
        # "DirectX" and "OpenGL" split into two tokens at the case change: join them back.
        for tok in ((tokens[i - 1] + tokens[i]) if i > 0 else "", tokens[i]):
            if tok in CONVENTION_TOKENS:
                return CONVENTION_TOKENS[tok]
    return None

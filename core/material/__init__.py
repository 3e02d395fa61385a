"""Material mode: PBR/SVBRDF map sets repaired jointly (issue 5).

    names    which map a file holds, from its name's tokens; OpenGL/DirectX hints
    normals  normal encoding, convention detection, unit length after inpainting
    mapset   loading a set, exact channel stacking for a joint model, merging and saving back
    shading  numpy GGX renderer for previews and the render-error benchmark
    inpaint  one repair (joint or map by map) as an event stream
    tga      TGA read/write (our OpenCV has no TGA codec)
"""
from core.material.inpaint import (MaterialJob, MaterialPreview, MaterialRepair, MaterialResult, inpaint_material,
                                   run_material)
from core.material.mapset import (ChannelPlan, MapSet, MaterialMap, check_output, load_map_set, merge_maps,
                                  normal_vectors, plan_channels, save_map_set, stack, unstack)
from core.material.names import KIND_ORDER, KIND_TITLES, convention_hint, detect_kind, tokenize
from core.material.shading import BENCH_LIGHTS, ShadingInputs, render, shade, shading_inputs

__all__ = [
    "BENCH_LIGHTS", "ChannelPlan", "KIND_ORDER", "KIND_TITLES", "MapSet", "MaterialJob", "MaterialMap",
    "MaterialPreview", "MaterialRepair", "MaterialResult", "ShadingInputs", "check_output", "convention_hint",
    "detect_kind", "inpaint_material", "load_map_set", "merge_maps", "normal_vectors", "plan_channels", "render",
    "run_material", "save_map_set", "shade", "shading_inputs", "stack", "tokenize", "unstack",
]

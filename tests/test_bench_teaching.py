"""bench.teaching's cases: the hole's truth is the first texture, the sampling area leaves out the other one."""
import numpy as np


def test_cases_keep_the_hole_clear_of_the_other_texture(data_dir):
    from bench.teaching import make_cases

    cases = make_cases("textures", 1, 128)
    assert [c["kind"] for c in cases] == ["pasted", "border"]
    for c in cases:
        other = ~c["source"]
        assert other.any() and not (other & c["mask"]).any()
        # the other texture is near: within 8 px of the hole's right edge
        cols = np.nonzero(c["mask"].any(axis=0))[0]
        assert other[:, cols[-1] + 1:cols[-1] + 9].any()
        assert c["reference"] is not None and c["reference"].shape[1] > 128

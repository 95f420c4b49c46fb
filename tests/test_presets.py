from __future__ import annotations

import pytest

from mige_eval.presets import AREAS, PresetError, Presets


def test_defaults_are_the_first_option():
    p = Presets.from_names()
    assert all(p[area] == options[0] for area, options in AREAS.items())
    assert p.non_default() == []


def test_options_select_their_area_and_clash_loudly():
    p = Presets.from_names(["jpeg75", "single-reference,clip-l14"])
    assert p["output_storage"] == "jpeg75" and p["clip_backbone"] == "clip-l14"
    assert p.non_default() == ["clip-l14", "jpeg75", "single-reference"]
    with pytest.raises(PresetError, match="both set pixel_geometry"):
        Presets.from_names(["stretch", "center-crop-ref"])
    with pytest.raises(PresetError, match="Did you mean 'jpeg75'"):
        Presets.from_names(["jpeg57"])

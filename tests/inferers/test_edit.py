"""``edit_datalist`` (the lesion_inpaint bundle's inference): outputs named by the class painted."""

from __future__ import annotations

import numpy as np
from PIL import Image

from monai_gan_aug.inferers.edit import PneumoniaEditor, edit_datalist


def test_outputs_are_named_by_the_class(chest_like, tiny_lesion_weights, tmp_path):
    src = tmp_path / "chest.png"
    Image.fromarray((chest_like * 255).astype(np.uint8)).save(src)
    items = [{"image": str(src), "boxes": [[20, 30, 45, 60]]}]
    for class_index, tag in ((0, "healthy"), (1, "pneumonia")):
        editor = PneumoniaEditor(weights=tiny_lesion_weights, class_index=class_index, feather=2)
        edit_datalist(editor, items, tmp_path / tag)
        assert sorted(p.name for p in (tmp_path / tag).glob("*.png")) == [f"chest_{tag}.png"]


def test_progress_bar_on_request_and_silent_otherwise(chest_like, tiny_opacity_weights, tmp_path, capsys):
    src = tmp_path / "chest.png"
    Image.fromarray((chest_like * 255).astype(np.uint8)).save(src)
    items = [{"image": str(src), "boxes": [[20, 30, 45, 60]]}] * 1
    editor = PneumoniaEditor(weights=tiny_opacity_weights, feather=2)
    edit_datalist(editor, items, tmp_path / "a", progress=True)
    err = capsys.readouterr().err
    assert "edit" in err and "1/1" in err and "image/s" in err
    edit_datalist(editor, items, tmp_path / "b", progress=False)
    assert capsys.readouterr().err == ""
    manifest = (tmp_path / "a" / "manifest.csv").read_text()
    assert "tiny_opacity.pt" in manifest  # the weights used are recorded

"""``magicbrush``: InstructPix2Pix fine-tuned on MagicBrush (Zhang et al., NeurIPS 2023 D&B) through diffusers.

The model is an InstructPix2Pix checkpoint, so everything but the weights is :mod:`.instructpix2pix`:

- weights ``vinesmsuic/magicbrush-jul7``: the README of github.com/OSU-NLP-Group/MagicBrush ("Load in
  Diffusers") points to it and to ``vinesmsuic/magicbrush-paper``. ``jul7`` is the diffusers conversion of
  ``MagicBrush-epoch-52-step-4999.ckpt``, the "recent best checkpoint" the README recommends; the paper's
  numbers come from ``MagicBrush-epoch-000168.ckpt`` (``--model-arg model_id=vinesmsuic/magicbrush-paper``).
  No commit is published, so ``revision`` defaults to ``main``;
- ``steps=100``, ``resolution=512``, ``guidance_scale=7.5``, ``image_guidance_scale=1.5``, Euler ancestral
  sampling: the defaults of the authors' evaluation script ``edit_cli_single_multi_turn.py`` (the
  InstructPix2Pix sampler, run on the MagicBrush checkpoint).
"""

from __future__ import annotations

from mige_eval.baselines.instructpix2pix import InstructPix2Pix


class MagicBrush(InstructPix2Pix):
    name = "magicbrush"
    description = "InstructPix2Pix fine-tuned on MagicBrush (Zhang et al., NeurIPS 2023), vinesmsuic/magicbrush-jul7"
    license = "see the vinesmsuic/magicbrush-jul7 model card"
    default_model_id = "vinesmsuic/magicbrush-jul7"

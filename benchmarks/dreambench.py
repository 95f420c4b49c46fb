"""DreamBench: the google/dreambooth dataset layout (docs/metrics.md, DreamBench).

``prompts_and_classes.txt`` maps each subject folder to its class noun and holds two prompt lists,
one for objects and one for live subjects (cats and dogs), as Python ``format`` templates with the
identifier and class tokens. Each sample is one (subject, prompt) pair:

- ``prompt`` / ``caption``: the template with the identifier dropped and the class noun kept
  ("a dog in the jungle");
- ``instruction``: the template with identifier and class replaced by one ``<imagehere>``
  ("a <imagehere> in the jungle"), whose image is the subject's input photo: ``00.jpg`` (preset
  ``first-photo``) or, under ``mige-examples``, the photo the MIGE authors' published input was cut from
  where one is known (the card's ``input_photos``); under ``segmented`` that photo is given to the
  model cut out on black by Grounded-SAM with the class noun as the prompt, as the authors' inputs are;
- ``references``: every photo of the subject (preset ``dreambooth``) or the input photo only
  (``single-reference``; the photo itself, never its segmented form).

The 25 prompts of a subject share its input photo, so confidence intervals resample subjects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mige_eval.benchmarks.base import Benchmark, DataError, compare_counts, data_option
from mige_eval.images import IMAGE_SUFFIXES, ImageRef
from mige_eval.store import safe_id, write_if_changed
from mige_eval.types import PLACEHOLDER, BrokenSample, Sample

if TYPE_CHECKING:
    from mige_eval.metrics.base import ScoringContext

PROMPTS_FILE = "prompts_and_classes.txt"
_TEMPLATE = re.compile(r"""['"](.*?)['"]\s*\.format\(\s*unique_token\s*,\s*class_token\s*\)""")
_CLASS_LINE = re.compile(r"^([A-Za-z0-9_]+)\s*,\s*([A-Za-z][A-Za-z ]*?)\s*$")


def parse_prompts_file(text: str, label: str = PROMPTS_FILE) -> tuple[dict[str, str], list[str], list[str]]:
    """(subject → class noun, object templates, live templates) from ``prompts_and_classes.txt``."""
    classes_part, sep, prompts_part = text.partition("Prompts")
    obj_part, sep2, live_part = prompts_part.partition("Live Subject Prompts")
    if not sep or not sep2:
        raise DataError(f"{label}: expected a 'Prompts' section with 'Object Prompts' and 'Live Subject Prompts'")
    classes: dict[str, str] = {}
    for line in classes_part.splitlines():
        match = _CLASS_LINE.match(line.strip())
        if match and match.group(1) != "subject_name":
            classes[match.group(1)] = match.group(2)
    object_templates = _TEMPLATE.findall(obj_part)
    live_templates = _TEMPLATE.findall(live_part)
    if not classes:
        raise DataError(f"{label}: no 'subject_name,class' lines found")
    for kind, templates in (("object", object_templates), ("live", live_templates)):
        if not templates or any("{0} {1}" not in t for t in templates):
            raise DataError(f"{label}: the {kind} prompt list is missing or has a template without '{{0}} {{1}}'")
    return classes, object_templates, live_templates


def caption_from_template(template: str, class_noun: str) -> str:
    """The CLIP-T text: identifier dropped, class noun kept, whitespace collapsed."""
    return " ".join(template.replace("{0} {1}", class_noun).split())


def instruction_from_template(template: str) -> str:
    """The multimodal instruction: identifier and class replaced by one placeholder."""
    return " ".join(template.replace("{0} {1}", PLACEHOLDER).split())


class DreamBench(Benchmark):
    card_file = "dreambench.yaml"
    preset_areas = ("dreambench_reference", "dreambench_input", "dreambench_input_form")
    cluster_unit = "subject"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._counts: dict[str, int] = {}
        self._segmented: dict[str, tuple[ImageRef, tuple[str, ...]]] = {}

    def input_name(self, subject: str) -> str:
        """The file name of the photo a subject's samples give the model (preset ``dreambench_input``)."""
        choice = self.presets["dreambench_input"]
        chosen = (self.card.extra.get("input_photos") or {}).get(choice, {}) if choice != "first-photo" else {}
        return chosen.get(subject, self.card.extra.get("input_photo", "00.jpg"))

    def samples(self) -> Iterator[Sample]:
        root = self.root
        prompts_path = self.file(PROMPTS_FILE, what="prompt file")
        if not prompts_path.is_file():
            raise DataError(
                f"dreambench: {prompts_path} is missing; {data_option(self.name)} must be the DreamBooth "
                "'dataset' folder"
            )
        classes, object_templates, live_templates = parse_prompts_file(
            prompts_path.read_text(encoding="utf-8"), str(prompts_path)
        )
        live_classes = set(self.card.extra.get("live_classes", ("cat", "dog")))
        single = self.presets["dreambench_reference"] == "single-reference"
        self._counts = {"subjects": len(classes), "photos": 0}
        for subject, class_noun in classes.items():
            photos = self._photos(root, subject)
            self._counts["photos"] += len(photos)
            input_name = self.input_name(subject)
            input_ref = next((p for p in photos if Path(p.label).name == input_name), None)
            if input_ref is None:
                raise DataError(f"dreambench: subject folder {root / subject} has no input photo {input_name}")
            live = class_noun in live_classes
            templates = live_templates if live else object_templates
            for index, template in enumerate(templates):
                caption = caption_from_template(template, class_noun)
                yield Sample(
                    id=f"{subject}-{index:02d}",
                    task="subject",
                    subset="live" if live else "object",
                    instruction=instruction_from_template(template),
                    instruction_images=(input_ref,),
                    prompt=caption,
                    references=(input_ref,) if single else tuple(photos),
                    caption=caption,
                    subject_photo=input_ref,
                    object=class_noun,
                    meta={
                        "subject": subject,
                        "class_noun": class_noun,
                        "prompt_index": index,
                        "input_photo": input_ref.label,
                    },
                )

    def cluster(self, sample: Sample | BrokenSample) -> str | None:
        return sample.meta.get("subject") if isinstance(sample, Sample) else None

    def generation_settings(self, ctx: ScoringContext) -> dict[str, Any]:
        settings = super().generation_settings(ctx)
        if self.presets["dreambench_input_form"] == "segmented":
            from mige_eval.metrics.crops import PROCEDURE, subject_extractor

            extractor = subject_extractor(ctx).prepare()
            settings["segmenter"] = {
                "procedure": PROCEDURE,
                "detector": extractor.detector.fingerprint,
                "sam": extractor.segmenter.fingerprint,
            }
        return settings

    def prepare_inputs(self, samples: Sequence[Sample], ctx: ScoringContext) -> list[Sample]:
        """Under ``segmented``, each input photo cut out on black (once per photo; saved as
        ``inputs/<subject>-<photo>.png`` in the run directory for inspection)."""
        if self.presets["dreambench_input_form"] != "segmented":
            return list(samples)
        todo = {
            s.instruction_images[0].label: s for s in samples if s.instruction_images[0].label not in self._segmented
        }
        if todo:
            from mige_eval.images import encode_png
            from mige_eval.metrics.crops import normalize_prompt, subject_extractor

            photos = [ctx.load(s.instruction_images[0]) for s in todo.values()]
            prompts = [normalize_prompt(s.meta["class_noun"]) for s in todo.values()]
            for label, photo, crop in zip(todo, photos, subject_extractor(ctx).cut(photos, prompts)):
                png = crop.png if crop.png is not None else encode_png(photo)
                self._segmented[label] = (self._save_input(ctx, label, png), crop.flags)
        return [replace(s, instruction_images=(self._segmented[s.instruction_images[0].label][0],)) for s in samples]

    @staticmethod
    def _save_input(ctx: ScoringContext, label: str, png: bytes) -> ImageRef:
        """The model's input as an in-memory reference; a copy goes to the run directory's ``inputs/``."""
        name = f"inputs/{safe_id(label.replace('/', '-').rsplit('.', 1)[0])}.png"
        if ctx.run_dir is not None:
            write_if_changed(Path(ctx.run_dir) / name, png)
        return ImageRef.from_bytes(png, f"{name} (segmented from {label})")

    def notes(self) -> list[str]:
        if not self._segmented:
            return []
        whole = sorted(label for label, (_, flags) in self._segmented.items() if flags)
        return [
            f"dreambench: inputs segmented with Grounded-SAM (class noun as the prompt) for "
            f"{len(self._segmented)} photos"
            + (f"; nothing was cut from {', '.join(whole)}, given whole" if whole else "")
        ]

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        """Subjects, photos and samples against the card (30, 158, 750)."""
        return compare_counts(self.name, {**self._counts, "samples": len(samples)}, self.card.expected)

    def _photos(self, root: Path, subject: str) -> list[ImageRef]:
        folder = self.file(subject, what=f"subject folder {subject!r}")
        if not folder.is_dir():
            raise DataError(f"dreambench: subject folder {folder} (listed in {PROMPTS_FILE}) is missing")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"dreambench: subject folder {folder} holds no images")
        return [ImageRef.from_path(p, f"{subject}/{p.name}") for p in files]

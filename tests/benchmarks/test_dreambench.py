"""DreamBench loader on the real dataset (google/dreambooth layout)."""

from __future__ import annotations

from collections import Counter

import pytest

from mige_eval.benchmarks.base import DataError
from mige_eval.benchmarks.dreambench import DreamBench, parse_prompts_file
from mige_eval.presets import Presets


def load(root, *presets):
    bench = DreamBench(DreamBench.builtin_card(), data=root, presets=Presets.from_names(presets))
    return list(bench.samples())


def test_real_dreambench_has_750_samples_over_30_subjects(dreambench_root):
    samples = load(dreambench_root)
    assert len(samples) == 750 and len({s.id for s in samples}) == 750
    per_subject = Counter(s.meta["subject"] for s in samples)
    assert len(per_subject) == 30 and set(per_subject.values()) == {25}
    assert Counter(s.subset for s in samples) == {"live": 225, "object": 525}
    assert sum(len({r.label for r in s.references}) for s in samples if s.meta["prompt_index"] == 0) == 158


def test_captions_keep_class_noun_and_drop_identifier(dreambench_root):
    by_id = {s.id: s for s in load(dreambench_root)}
    dog = by_id["dog-00"]
    assert (dog.caption, dog.prompt, dog.instruction) == (
        "a dog in the jungle",
        "a dog in the jungle",
        "a <imagehere> in the jungle",
    )
    assert by_id["dog-10"].caption == "a dog wearing a red hat"  # live list
    assert by_id["backpack-10"].caption == "a backpack with a wheat field in the background"  # object list
    assert by_id["bear_plushie-02"].caption == "a stuffed animal on the beach"
    assert by_id["rc_car-24"].caption == "a cube shaped toy"
    assert by_id["dog-00"].meta["class_noun"] == "dog" and by_id["dog-00"].task == "subject"
    assert [r.label for r in dog.instruction_images] == ["dog/00.jpg"] and dog.source is None


def test_reference_presets(dreambench_root):
    default = {s.id: s for s in load(dreambench_root)}
    single = {s.id: s for s in load(dreambench_root, "single-reference")}
    assert [r.label for r in default["cat-03"].references] == [f"cat/0{i}.jpg" for i in range(5)]
    assert [r.label for r in single["cat-03"].references] == ["cat/00.jpg"]


def test_missing_data_and_broken_layout_name_the_problem(tmp_path, dreambench_root):
    with pytest.raises(DataError, match="dataset folder .*nowhere does not exist"):
        load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="prompts_and_classes.txt is missing"):
        load(tmp_path)
    (tmp_path / "prompts_and_classes.txt").write_text((dreambench_root / "prompts_and_classes.txt").read_text())
    with pytest.raises(DataError, match="subject folder .*backpack .* is missing"):
        load(tmp_path)


def test_prompt_file_without_prompt_lists_is_refused():
    with pytest.raises(DataError, match="Prompts"):
        parse_prompts_file("Classes\n\nsubject_name,class\ndog,dog\n", "x.txt")

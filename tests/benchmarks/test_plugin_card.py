"""A benchmark class from a third-party package reads its card from beside its own module."""

from __future__ import annotations

import textwrap

from mige_eval.registry import import_spec


def test_plugin_loader_reads_the_card_next_to_its_module(tmp_path):
    (tmp_path / "my_bench.yaml").write_text(
        textwrap.dedent("""\
        name: my-bench
        description: a plugin benchmark
        tasks: [subject]
        metrics: [dino]
        source: {kind: local}
    """)
    )
    (tmp_path / "plugin.py").write_text(
        textwrap.dedent("""\
        from mige_eval.benchmarks.dreambench import DreamBench

        class MyBench(DreamBench):
            card_file = "my_bench.yaml"
    """)
    )
    cls = import_spec(f"{tmp_path / 'plugin.py'}:MyBench", what="benchmark")
    card = cls.builtin_card()
    assert card.name == "my-bench" and card.path == tmp_path / "my_bench.yaml"
    # the built-in loaders still find theirs in mige-eval's cards/ folder
    assert cls.__mro__[1].builtin_card().name == "dreambench"

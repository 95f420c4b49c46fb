"""The run's judge (a local model or a server), its answer cache and record, and the base of judge metrics.

:func:`judge_for` builds one :class:`Judge` per run as a context service: a
:class:`~mige_eval.metrics.judge_local.LocalJudge` (``--judge-model``, default :data:`DEFAULT_JUDGE`) or,
with ``--judge-url``, a :class:`~mige_eval.metrics.judge_http.RemoteJudge`. :meth:`Judge.ask` answers a
prompt for many samples: from memory, then from the answer cache, then from the backend (each distinct
request once), reading the scores from every answer and recording it in the run's ``judgements.jsonl``.
A request that fails comes back as a :class:`JudgeFailed` for its sample only; the failure is kept for
the rest of the run so that retrying the sample alone does not ask again.

:class:`JudgeMetric` turns judgements into scores: ``null`` with a flag when the judge's answer cannot
be read (``<prompt metric>_unparsed``), when the sample has no plain-text instruction
(``judge_no_text``) or is a multi-turn chain (``judge_multi_turn``); a failed request fails the sample.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from mige_eval.benchmarks.turns import TURNS
from mige_eval.metrics.base import Metric, Score, ScoreItem, ScoringContext
from mige_eval.metrics.judge_parse import Reading, read_dbp, read_vie
from mige_eval.metrics.judge_prompts import Conversation, JudgePrompt, PreparedImage, load_prompt
from mige_eval.metrics.judge_store import AnswerCache, JudgementLog
from mige_eval.types import count_placeholders

if TYPE_CHECKING:
    from mige_eval.types import Sample

DEFAULT_JUDGE = "Qwen/Qwen2.5-VL-7B-Instruct"
READERS = {"vie_sc": read_vie, "vie_pq": read_vie, "dbp_cp": read_dbp, "dbp_pf": read_dbp}


@dataclass(frozen=True)
class Judgement:
    """A judge's raw answer and what was read from it."""

    answer: str
    reading: Reading


class JudgeFailed(RuntimeError):
    """The judge gave no answer for one sample (the server failed after its retries)."""


class Judge:
    """One backend with its answer cache (optional) and the run's judgement record (optional)."""

    def __init__(self, backend: Any, *, cache: AnswerCache | None = None, log: JudgementLog | None = None):
        self.backend, self.cache, self.log = backend, cache, log
        self.memory: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.prompts: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self._identity: dict[str, Any] | None = None

    def prepare(self) -> Judge:
        """Resolve the judge's identity before any sample: files, kind and revision of a local model (no
        weights load); a server's model name, asked only when ``--judge-model`` does not give it."""
        self.identity()
        return self

    def identity(self) -> dict[str, Any]:
        """The judge's id and revision (or server URL and model), precision and decoding."""
        if self._identity is None:
            self._identity = self.backend.identity()
        return self._identity

    @property
    def label(self) -> str:
        who = self.identity()
        return f"{who['model']}@{who['revision']}" if who["kind"] == "local" else f"{who['model']} at {who['url']}"

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records: the judge, the prompt versions asked, and where the answers came from."""
        return {**self.backend.describe(), "prompts": dict(sorted(self.prompts.items())), "answers": dict(self.counts)}

    def key(self, prompt: JudgePrompt, conversation: Conversation) -> str:
        """The cache key of one request: judge identity and decoding, prompt, rendered texts and image keys."""
        messages = [
            [role, [item.key if isinstance(item, PreparedImage) else item for item in items]]
            for role, items in conversation
        ]
        payload = {"judge": self.identity(), "prompt": prompt.label, "detail": prompt.detail, "messages": messages}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def ask(
        self, prompt: JudgePrompt, sample_ids: Sequence[str], conversations: Sequence[Conversation]
    ) -> list[Judgement | JudgeFailed]:
        """One judgement (or failure) per conversation, in order; each distinct request answered once."""
        self.prompts[prompt.id] = prompt.version
        keys = [self.key(prompt, c) for c in conversations]
        wanted = [k for k in dict.fromkeys(keys) if k not in self.memory and k not in self.failed]
        if wanted and self.cache is not None:
            found = self.cache.get(wanted)
            self.memory.update(found)
            if found:
                self.counts["cached"] += len(found)
            wanted = [k for k in wanted if k not in found]
        if wanted:
            self._fetch(prompt, wanted, {k: c for k, c in zip(keys, conversations)})
        results: list[Judgement | JudgeFailed] = []
        records = []
        for sample_id, key in zip(sample_ids, keys):
            if key in self.failed:
                results.append(
                    JudgeFailed(
                        f"judge {self.label} gave no {prompt.label} answer for sample {sample_id}: {self.failed[key]}"
                    )
                )
                continue
            answer = self.memory[key]
            reading = READERS[prompt.id](answer)
            results.append(Judgement(answer, reading))
            records.append(
                {
                    "sample": sample_id,
                    "prompt": prompt.label,
                    "judge": self.label,
                    "key": key,
                    "answer": answer,
                    "scores": None if reading.scores is None else list(reading.scores),
                    "problem": reading.problem,
                }
            )
        if self.log is not None:
            self.log.write(records)
        return results

    def _fetch(self, prompt: JudgePrompt, keys: list[str], by_key: dict[str, Conversation]) -> None:
        def arrived(index: int, answer: str) -> None:  # stored at once: an interrupted run keeps every answer
            self.memory[keys[index]] = answer
            if self.cache is not None:
                self.cache.put(keys[index], self.label, prompt.label, answer)

        results = self.backend.answer([by_key[k] for k in keys], arrived, detail=prompt.detail)
        for key, result in zip(keys, results):
            if isinstance(result, Exception):
                self.failed[key] = str(result)
                self.counts["failed"] += 1
            else:
                self.counts["asked"] += 1

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
        if self.cache is not None:
            self.cache.close()


def judge_for(ctx: ScoringContext) -> Judge:
    """The run's judge (a context service), from the scoring options."""

    def build() -> Judge:
        from mige_eval.metrics.features import default_cache_dir

        opts = ctx.options
        if opts.judge_url:
            from mige_eval.metrics.judge_http import RemoteJudge

            backend: Any = RemoteJudge(
                opts.judge_url,
                model=opts.judge_model,
                api_key_env=opts.judge_api_key_env,
                concurrency=opts.judge_concurrency,
                timeout=opts.judge_timeout,
                retries=opts.judge_retries,
                max_tokens=opts.judge_max_tokens,
            )
        else:
            from mige_eval.metrics.judge_local import LocalJudge

            backend = LocalJudge(
                opts.judge_model or DEFAULT_JUDGE,
                device=opts.device,
                dtype=opts.judge_dtype,
                batch_size=opts.batch_size,
                max_new_tokens=opts.judge_max_tokens,
            )
        folder = (opts.cache_dir or default_cache_dir()) if opts.use_cache else None
        return Judge(
            backend,
            cache=AnswerCache(folder) if folder else None,
            log=JudgementLog(ctx.run_dir) if ctx.run_dir is not None else None,
        )

    return ctx.service("judge", build)


def plain_text(sample: Sample) -> str | None:
    """The sample's instruction as plain text: its ``prompt``, else its ``instruction``, without ``<imagehere>``."""
    for text in (sample.prompt, sample.instruction):
        if text and text.strip() and not count_placeholders(text):
            return text.strip()
    return None


class JudgeMetric(Metric):
    """A score read from judge answers to :attr:`prompt_ids`; subclasses supply images, texts and arithmetic."""

    higher_is_better = True
    prompt_ids: ClassVar[tuple[str, ...]]
    #: Sample text the prompts show (``instruction`` / ``prompt``), or None.
    text_slot: ClassVar[str | None] = None
    #: Flag naming an unreadable answer, per prompt id.
    UNPARSED: ClassVar[dict[str, str]] = {
        "vie_sc": "vie_sc_unparsed",
        "vie_pq": "vie_pq_unparsed",
        "dbp_cp": "judge_cp_unparsed",
        "dbp_pf": "judge_pf_unparsed",
    }

    def __init__(self, ctx: ScoringContext):
        super().__init__(ctx)
        self.prompts = [load_prompt(pid) for pid in self.prompt_ids]
        self.judge = judge_for(ctx).prepare()

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "judge": self.judge.identity(),
            "prompts": {p.id: p.version for p in self.prompts},
        }

    @abc.abstractmethod
    def images(self, item: ScoreItem, slots: Sequence[str]) -> dict[str, PreparedImage]:
        """The item's images for ``slots``, prepared as the prompts show them (shared through ``item.derived``)."""

    @abc.abstractmethod
    def value(self, readings: dict[str, Reading]) -> float:
        """The metric's value from the readable answers, by prompt id."""

    def undefined(self, item: ScoreItem) -> str | None:
        """Why the judge cannot be asked about this item (a flag), or None."""
        if len(item.sample.meta.get(TURNS) or ()) > 1:
            return "judge_multi_turn"
        if self.text_slot and plain_text(item.sample) is None:
            return "judge_no_text"
        return None

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        why = [self.undefined(item) for item in items]
        live = [i for i, reason in enumerate(why) if reason is None]
        values = {i: {self.text_slot: plain_text(items[i].sample)} if self.text_slot else {} for i in live}
        readings: dict[int, dict[str, Reading]] = {i: {} for i in live}
        for prompt in self.prompts:
            conversations = [prompt.render(self.images(items[i], prompt.image_slots), values[i]) for i in live]
            results = self.judge.ask(prompt, [items[i].sample.id for i in live], conversations)
            failed = [r for r in results if isinstance(r, JudgeFailed)]
            if failed:
                raise failed[0]  # the scorer retries sample by sample; the others come from memory
            for i, judgement in zip(live, results):
                readings[i][prompt.id] = judgement.reading
        scores = []
        for i, reason in enumerate(why):
            if reason is not None:
                scores.append(Score(None, (reason,)))
                continue
            unreadable = tuple(self.UNPARSED[pid] for pid, r in readings[i].items() if r.scores is None)
            scores.append(Score(None, unreadable) if unreadable else Score(self.value(readings[i])))
        return scores

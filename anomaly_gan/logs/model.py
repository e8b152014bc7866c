"""The fitted log front end of a logs bundle: templates -> count features, and back from a
scored window to the templates that explain it (pure; no I/O).

Feature columns: ``t<id>`` for each of the top-K training templates (by line count), then
``other``, ``unseen``, and optionally ``lines_per_second``, ``error_share`` and
``volume_drop``. Counts enter the model as ``log1p(count)``: line counts are heavy-tailed
(a burst is 40x the usual count), and the log keeps one burst from flattening every other
column after scaling. ``volume_drop`` is how surprising a low line count is for the entity,
``-ln P(N <= lines)`` with ``N ~ Poisson(the entity's mean lines per training bucket)``:
about 0 normally, ~mean when it goes silent. A reconstruction model sees *absence* poorly
(an all-zero window is easy to reconstruct); this column turns a silent component into a
large value it has never seen.

The model saves as plain JSON (``extras/logs.json`` in the bundle); the ``logs:`` config
section is saved with the bundle's config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from anomaly_gan.config import LogsConfig
from anomaly_gan.errors import BundleError
from anomaly_gan.logs.counts import NEW_OVERFLOW, BucketRow, CountBuckets, Key
from anomaly_gan.logs.events import cut_text, level_name
from anomaly_gan.logs.templates import TemplateMiner, redact_secrets

__all__ = ["OTHER", "RELOADABLE", "UNSEEN", "LogModel", "live_change"]

OTHER, UNSEEN, RATE, SHARE, DROP = ("other", "unseen", "lines_per_second", "error_share",
                                    "volume_drop")
# The means over every entity (for an entity not seen in training), under a key no entity can
# have (an entity holding a control character is a bad_entity); until 2026-12-07 it was "*",
# which an entity named "*" shared: bundles written then still hold it (LEGACY_ALL).
ALL = "\x00*"
LEGACY_ALL = "*"

#: The ``logs:`` keys in which a model may differ from the one ``serve`` runs and still be
#: hot-reloaded: ``serve`` keeps the parser and the open buckets of the model it started
#: with across a reload, so a changed regex or bucket width would apply only after a
#: restart, and the rows in the windows would not be the ones the new model was trained on.
RELOADABLE = frozenset({"example_lines", "bad_lines"})  # bad_lines: offline files only


def live_change(before: LogsConfig, after: LogsConfig) -> tuple[str, Any, Any] | None:
    """The first ``logs:`` key outside :data:`RELOADABLE` in which ``after`` differs from
    ``before``, with both values, or None.

    >>> live_change(LogsConfig(), LogsConfig(bucket_seconds=30.0))
    ('bucket_seconds', 60.0, 30.0)
    >>> live_change(LogsConfig(), LogsConfig(example_lines=5)) is None
    True
    """
    import dataclasses

    for f in dataclasses.fields(before):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if f.name not in RELOADABLE and old != new:
            return f.name, old, new
    return None


class LogModel:
    """Classifies lines into feature columns and explains windows in template terms."""

    def __init__(self, cfg: LogsConfig, miner: TemplateMiner, template_ids: Sequence[int],
                 entity_lines: dict[str, float],
                 template_means: dict[str, dict[int, float]]) -> None:
        self.cfg = cfg
        self.miner = miner
        self.template_ids = tuple(int(t) for t in template_ids)
        names = [f"t{t}" for t in self.template_ids] + [OTHER, UNSEEN]
        if cfg.lines_per_second:
            names.append(RATE)
        if cfg.error_share:
            names.append(SHARE)
        self.volume_drop = cfg.volume_drop and cfg.bucket_seconds is not None
        if self.volume_drop:
            names.append(DROP)
        self.feature_names = tuple(names)
        self.n_counts = len(self.template_ids) + 2
        # entity -> mean lines per training bucket; ALL: over every entity.
        self.entity_lines = entity_lines
        # entity -> template id -> mean lines per training bucket; ALL: over every entity.
        self.template_means = template_means
        self._column = {t: i for i, t in enumerate(self.template_ids)}
        # known templates of the bundles served before a hot reload that this one lacks:
        # the rows and open buckets counted with them name them (LogFeed.install)
        self.retired: dict[int, str] = {}
        self.other = len(self.template_ids)
        self.unseen = self.other + 1
        # A line's level digits are the level they stand for (level_name: '3' is ERR), so
        # listed digits stand for it too: a bundle trained when digits were kept as written
        # lists '3' for syslog's err, and its error share would stay 0.
        self._errors = frozenset(name.upper() for level in cfg.error_levels
                                 for name in (level, level_name(level) or level))

    # ------------------------------------------------------------------ lines -> columns

    def classify(self, message: str) -> tuple[int, Key]:
        """Column and template key of one line; an unseen line is grouped with the other
        unseen lines into a live template (capped: ``miner.dropped`` counts the drops)."""
        masked = self.miner.mask(message)
        tid = self.miner.match_masked(masked)
        if tid is None:
            return self.unseen, ("new", self.miner.learn_unseen(masked))
        return self._column.get(tid, self.other), ("known", tid)

    def is_error(self, level: str) -> bool:
        return level in self._errors

    @property
    def max_hole_seconds(self) -> float:
        """Longest time between two rows of one series: none in time buckets (rows are
        consecutive buckets, or a new series after the gap rule); per N lines, time does not
        split series (buckets follow each other whatever the clock says)."""
        return 0.0 if self.cfg.bucket_seconds is not None else math.inf

    @property
    def row_gap_seconds(self) -> float:
        """The window state's gap rule on row times (bucket ends) that matches it."""
        s = self.cfg.bucket_seconds
        return 1.5 * s if s is not None else math.inf

    def features(self, rows: Sequence[BucketRow]) -> np.ndarray:
        """Model input rows ``(n, F)`` for count rows (see the module docstring)."""
        from scipy.special import pdtr

        counts = np.stack([r.values for r in rows])
        out = counts.copy()
        out[:, : self.n_counts] = np.log1p(counts[:, : self.n_counts])
        if self.volume_drop:
            fallback = self.entity_lines.get(ALL, 0.0)
            mean = np.array([self.entity_lines.get(r.entity, fallback) for r in rows])
            lines = np.array([r.lines for r in rows], dtype=np.float64)
            cdf = np.where(mean > 0, pdtr(lines, np.maximum(mean, 1e-12)), 1.0)
            out = np.column_stack([out, -np.log(np.maximum(cdf, 1e-300))])
        return out

    def buckets(self, lateness_seconds: float = 0.0) -> CountBuckets:
        c = self.cfg
        return CountBuckets(len(self.feature_names) - int(self.volume_drop),
                            bucket_seconds=c.bucket_seconds,
                            bucket_lines=c.bucket_lines, gap_seconds=c.gap_seconds,
                            lines_per_second=c.lines_per_second, error_share=c.error_share,
                            example_lines=c.example_lines, lateness_seconds=lateness_seconds)

    # ------------------------------------------------------------------ explanations

    def column_text(self, feature: str) -> str:
        """A feature as an operator reads it: a template column as its template's text
        (quoted), any other column by its name."""
        if feature.startswith("t") and feature[1:].isdigit():
            # a bundle trained before 2026-12-07 may hold credentials in its templates
            return repr(cut_text(redact_secrets(self.miner.template(int(feature[1:])))))
        return feature

    def template_text(self, key: Key) -> str:
        kind, tid = key
        if kind == "known":
            if tid in self.retired:  # (none of them is one of this bundle's)
                return self.retired[tid]
            return self.miner.template(tid)
        if key == NEW_OVERFLOW:
            return "(more new templates than a bucket keeps)"
        # "" is a template (of an empty message, or one of white space alone): until
        # 2026-12-07 it was named "(new template, dropped by the cap)", though none was
        text = self.miner.new_template(tid)
        return "(new template, dropped by the cap)" if text is None else text

    def explain(self, rows: Sequence[BucketRow], limit: int) -> list[dict[str, Any]]:
        """The templates that changed most in a window of ``rows`` (oldest first).

        Each entry: the template text, the observed count in the window, the expected
        count (training mean per bucket times the window's buckets) and up to
        ``logs.example_lines`` example lines. Templates are ranked by
        ``|observed - expected| / sqrt(expected + 1)``, over the templates seen in the
        window and those the entity logged in training that stayed away (so a silent
        component is named too; equal ranks: known templates by id, then new ones by text);
        unseen lines have an expected count of 0. Credentials in the texts (a password=,
        a bearer token: :func:`~anomaly_gan.logs.templates.redact_secrets`) are
        ``<SECRET>``: serve's alerts and score's ``templates`` column both come from here.
        """
        n = len(rows)
        means = self.template_means.get(rows[0].entity if rows else "",
                                        self.template_means.get(ALL, {}))
        merged: dict[Key, list] = {("known", t): [0, []] for t in means}
        for row in rows:
            for key, (count, examples) in row.detail.items():
                m = merged.setdefault(key, [0, []])
                m[0] += count
                room = self.cfg.example_lines - len(m[1])
                if room > 0:
                    m[1].extend(examples[:room])
        ranked = []
        for key, (count, examples) in merged.items():
            expected = means.get(key[1], 0.0) * n if key[0] == "known" else 0.0
            surprise = abs(count - expected) / math.sqrt(expected + 1.0)
            # Ties among new templates go by their text, not by their live id: the ids are
            # numbered in the order this process met them (lines of other partitions, before
            # a restart), so a tie named another template in score and after a replay.
            tie = "" if key[0] == "known" else self.template_text(key)
            ranked.append((-surprise, key[0], tie, key[1], key, count, expected, examples))
        ranked.sort(key=lambda r: r[:4])
        out = []
        for *_, key, count, expected, examples in ranked[:limit]:
            column = self._column.get(key[1], self.other) if key[0] == "known" else self.unseen
            out.append({"template": cut_text(redact_secrets(self.template_text(key))),
                        "feature": self.feature_names[column],
                        "observed": int(count), "expected": round(float(expected), 2),
                        "examples": [redact_secrets(e) for e in examples]})
        return out

    # ------------------------------------------------------------------ state

    def to_dict(self) -> dict[str, Any]:
        return {
            "template_ids": list(self.template_ids),
            "feature_names": list(self.feature_names),
            "entity_lines": {e: round(v, 6) for e, v in sorted(self.entity_lines.items())},
            "template_means": {e: {str(k): round(v, 6) for k, v in sorted(m.items())}
                               for e, m in sorted(self.template_means.items())},
            "miner": self.miner.to_dict(),
        }

    @classmethod
    def from_dict(cls, cfg: LogsConfig, raw: dict[str, Any]) -> LogModel:
        try:
            miner = TemplateMiner.from_dict(raw["miner"], max_new_clusters=cfg.max_clusters)
            model = cls(cfg, miner, raw["template_ids"],
                        _all_key({str(e): float(v) for e, v in raw["entity_lines"].items()}),
                        _all_key({str(e): {int(k): float(v) for k, v in m.items()}
                                  for e, m in raw["template_means"].items()}))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"malformed logs model: {exc!r}") from None
        if list(model.feature_names) != list(raw.get("feature_names", [])):
            raise BundleError("logs model: feature names do not match the logs config")
        return model


def _all_key(means: dict[str, Any]) -> dict[str, Any]:
    """``means`` with a bundle's all-entities means under :data:`ALL`: one written before
    2026-12-07 holds them under :data:`LEGACY_ALL` (its entity named ``*``, if any, was
    merged into them)."""
    if ALL not in means and LEGACY_ALL in means:
        means[ALL] = means.pop(LEGACY_ALL)
    return means


#: Lines between two calls of ``fit_log_model``'s ``stage`` (a power of two).
STAGE_EVERY = 8192


def fit_log_model(cfg: LogsConfig, messages: Sequence[str],
                  stage: Callable[[str, int, int], None] | None = None
                  ) -> tuple[LogModel, list[int]]:
    """Mine templates on training lines; the top ``cfg.top_k`` by line count become
    columns. Returns the model and each line's final template id. ``stage(what, done,
    total)``: how far mining, then matching, has got, every :data:`STAGE_EVERY` lines (2
    million lines take about 30 s)."""
    miner = TemplateMiner(cfg.masking, cfg.similarity_threshold, cfg.tree_depth,
                          cfg.max_children, cfg.max_clusters)
    total = len(messages)
    for done, m in enumerate(messages):
        if stage is not None and not done % STAGE_EVERY and done:
            stage("lines mined for templates", done, total)
        miner.learn(m)
    # Templates generalise while mining: assign every line to its final template.
    ids = []
    for done, m in enumerate(messages):
        if stage is not None and not done % STAGE_EVERY and done:
            stage("lines matched to their templates", done, total)
        tid = miner.match(m)
        ids.append(tid if tid is not None else miner.learn(m))
    sizes: dict[int, int] = {}
    for t in ids:
        sizes[t] = sizes.get(t, 0) + 1
    top = sorted(sizes, key=lambda t: (-sizes[t], t))[: cfg.top_k]
    model = LogModel(cfg, miner, top, {}, {})
    return model, ids


def set_means(model: LogModel, rows: Sequence[BucketRow]) -> None:
    """Training means per bucket: lines per entity (``volume_drop``), and lines per entity
    and known template (the 'expected' counts of explanations)."""
    if not rows:
        return
    lines: dict[str, list[int]] = {ALL: [r.lines for r in rows]}
    for r in rows:
        lines.setdefault(r.entity, []).append(r.lines)
    model.entity_lines = {e: float(np.mean(v)) for e, v in lines.items()}
    totals: dict[str, dict[int, float]] = {ALL: {}}
    buckets: dict[str, int] = {ALL: len(rows)}
    for r in rows:
        buckets[r.entity] = buckets.get(r.entity, 0) + 1
        mine = totals.setdefault(r.entity, {})
        for (kind, tid), (count, _) in r.detail.items():
            if kind == "known":
                mine[tid] = mine.get(tid, 0.0) + count
                totals[ALL][tid] = totals[ALL].get(tid, 0.0) + count
    model.template_means = {e: {t: c / buckets[e] for t, c in m.items()}
                            for e, m in totals.items()}

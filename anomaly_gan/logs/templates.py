"""drain3 template mining: masking rules, a frozen set of known templates, a capped miner
for lines seen only at scoring time, and a JSON state (no pickle).

drain3 persists its own state with jsonpickle, which can rebuild arbitrary Python objects
when loaded; a model bundle must never do that, so the state here is plain JSON: the
masking rule names, the Drain settings and every cluster's id, size and template tokens.
Loading re-inserts the clusters into a fresh prefix tree, and matching uses drain3's
``fallback`` search (tree first, then every template of the same length), so a restored
miner gives every line the same template as the miner that was saved.

Matching a line against the known templates goes through :class:`ExactMatcher`, which gives
drain3's ``match(..., "fallback")`` answer from hash lookups. drain3 compares the line with
every template in its tree leaf and then, when none matches, with every template of the same
length, so a log in which most lines are their own template (an unmasked id, free text)
cost O(templates) per line: 8,000 unique lines took 11 s to classify, 4,000 took 1.3 s.

>>> m = TemplateMiner(masking=("number",))
>>> a = m.learn("connected to db in 12 ms")
>>> m.learn("connected to db in 7 ms") == a
True
>>> m.template(a)
'connected to db in <NUM> ms'
>>> m2 = TemplateMiner.from_dict(m.to_dict())
>>> m2.match("connected to db in 3 ms") == a, m2.match("disk full") is None
(True, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from drain3.drain import Drain, LogCluster, LogClusterCache
from drain3.masking import AbstractMaskingInstruction, LogMasker, MaskingInstruction

from anomaly_gan.config import MASK_NAMES
from anomaly_gan.errors import BundleError
from anomaly_gan.logs.secrets import redact_secrets

__all__ = ["MASKS", "ExactMatcher", "PathIdsMasking", "TemplateMiner", "redact_secrets"]

# Masking rules by name (``logs.masking``), applied in the configured order. Each replaces a
# variable part of a line with a placeholder before mining, e.g. "10.0.0.7:8080" -> "<IP>".
_EDGE_L, _EDGE_R = r"(?<![\w.:/-])", r"(?![\w:/-]|\.\w)"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_HEX8 = r"(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}"
# Two or more "/" components; ``path`` masks all of it, ``path_ids`` only its ids.
_PATH = r"(?<![\w.:/-])(?:[\w.-]+)?(?:/[\w.@%+-]+){2,}/?"


class PathIdsMasking(AbstractMaskingInstruction):
    """``path_ids``: in a path (found as ``path`` finds them), mask only its ids.

    A segment that is a UUID, a number or 8+ hex digits with a letter and a digit becomes
    ``<UUID>``, ``<NUM>`` or ``<HEX>``. In any other segment a UUID, hex id or number
    between separators is masked in place (``file-<NUM>.db``, ``blk_<NUM>``,
    ``blockmgr-<UUID>``); a segment with none that is a token of 16+ url-safe/base64
    characters whose letters and digits interleave becomes ``<ID>`` (a word with a number at
    one end, ``HarddiskVolumeShadowCopy2``, stays). Words stay. A query string keeps its
    keys; its values become ``<VAL>``. So a template keeps the route or file location that
    alerts show: ``GET /api/v1/cart/<NUM>``, not ``GET <PATH>``.

    >>> PathIdsMasking().mask("GET /api/v1/cart/7955?sku=a1&q= 200", "<", ">")
    'GET /api/v1/cart/<NUM>?sku=<VAL>&q=<VAL> 200'
    >>> PathIdsMasking().mask("wrote /var/lib/app/data/file-1234.db", "<", ">")
    'wrote /var/lib/app/data/file-<NUM>.db'
    """

    _PATH_AND_QUERY = re.compile(r"(?P<path>" + _PATH + r")(?P<query>\?[\w.@%+=&;:~/-]*)?")
    _SEGMENT_IDS = ((re.compile(_UUID), "UUID"), (re.compile(r"\d+"), "NUM"),
                    (re.compile(_HEX8), "HEX"))
    _TOKEN = re.compile(r"[\w+-]{16,}")
    # A letter, a digit after it and a letter after that (or digit, letter, digit), each
    # the first after the one before: linear. ``.*\d.*`` tried at every letter was quadratic
    # (a 16 KB segment of letters took 1.3 s, a 64 KiB line 20 s, on serve's path).
    _INTERLEAVED = re.compile(r"[^a-zA-Z]*[a-zA-Z]\D*\d[^a-zA-Z]*[a-zA-Z]"
                              r"|\D*\d[^a-zA-Z]*[a-zA-Z]\D*\d")
    # Inside a segment: an id between separators (not letters or digits).
    _PART = re.compile(r"(?<![a-zA-Z0-9])(?:(?P<UUID>" + _UUID + r")|(?P<HEX>" + _HEX8 +
                       r")|(?P<NUM>\d+))(?![a-zA-Z0-9])")
    _QUERY_VALUE = re.compile(r"=[^&;]*")

    def __init__(self) -> None:
        super().__init__("PATH_IDS")

    def mask(self, content: str, mask_prefix: str, mask_suffix: str) -> str:
        def segment(s: str) -> str:
            for regex, name in self._SEGMENT_IDS:
                if regex.fullmatch(s):
                    return mask_prefix + name + mask_suffix
            parts = self._PART.sub(lambda m: mask_prefix + str(m.lastgroup) + mask_suffix, s)
            if parts == s and self._TOKEN.fullmatch(s) and self._INTERLEAVED.match(s):
                return mask_prefix + "ID" + mask_suffix
            return parts

        def path_and_query(m: re.Match[str]) -> str:
            path = "/".join(segment(s) for s in m["path"].split("/"))
            query = m["query"] or ""
            return path + self._QUERY_VALUE.sub("=" + mask_prefix + "VAL" + mask_suffix, query)

        return self._PATH_AND_QUERY.sub(path_and_query, content)


MASKS: dict[str, AbstractMaskingInstruction] = {
    "uuid": MaskingInstruction(_EDGE_L + _UUID + _EDGE_R, "UUID"),
    "ip": MaskingInstruction(_EDGE_L + r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?" + _EDGE_R, "IP"),
    "hex": MaskingInstruction(_EDGE_L + r"(?:0[xX][0-9a-fA-F]+|" + _HEX8 + ")" + _EDGE_R, "HEX"),
    "path": MaskingInstruction(_PATH, "PATH"),
    "path_ids": PathIdsMasking(),
    "number": MaskingInstruction(_EDGE_L + r"[-+]?\d+(?:\.\d+)?" + _EDGE_R, "NUM"),
}

# What each rule cannot match without: a literal character, or a digit (``\d``, as the
# rules read it). A line without it is left as the rule would leave it, without running the
# rule's regex: most lines lack most of them, and the five default rules were half of a log
# line's cost in ``serve`` (callgrind: 83k of 163k instructions a line of the demo's service
# logs). No rule adds a digit (the placeholders hold none), so a line without one has none
# after any rule either.
_DIGIT = re.compile(r"\d")
_NEEDS: dict[str, str | re.Pattern[str]] = {
    "uuid": "-", "ip": ".", "hex": _DIGIT, "path": "/", "path_ids": "/", "number": _DIGIT}

_PARAM = "<*>"
_STATE_VERSION = 1


class ExactMatcher:
    """``drain.match(line, full_search_strategy="fallback")`` of a Drain that no longer
    changes, by lookup instead of a scan.

    drain3 accepts a template for a line when every token that is not ``<*>`` equals the
    line's token there; among those it keeps the one with the most ``<*>``, the first in its
    list on a tie. It looks first in the line's tree leaf, then in every template of the
    line's length. Here each such list is grouped by where its templates have ``<*>``, and
    each group is a dict from the other tokens to the first template having them: a line
    costs one lookup per group (a handful), not one comparison per template. Lists are
    indexed when first needed; the matcher must be rebuilt after the Drain changes.
    """

    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self._lists: dict[object, list[tuple[tuple[int, ...], dict]]] = {}

    def match(self, content: str) -> LogCluster | None:
        d = self.drain
        tokens = d.get_content_as_tokens(content)
        if not tokens:
            return d.match(content, full_search_strategy="fallback")
        by_length = d.root_node.key_to_child_node.get(str(len(tokens)))
        if by_length is None:
            return None
        node = by_length
        depth = 1
        for token in tokens:  # drain3's tree_search walk down to the line's leaf
            if depth >= d.max_node_depth or depth == len(tokens):
                break
            child = node.key_to_child_node.get(token)
            if child is None:
                child = node.key_to_child_node.get(d.param_str)
            if child is None:
                node = None
                break
            node = child
            depth += 1
        leaf = node
        found = None if leaf is None else self._best(("leaf", id(leaf)),
                                                     lambda: leaf.cluster_ids, tokens)
        if found is None:
            found = self._best(("length", len(tokens)),
                               lambda: d.get_clusters_ids_for_seq_len(len(tokens)), tokens)
        return found

    def _best(self, key: object, ids: Callable[[], Sequence[int]],
              tokens: list[str]) -> LogCluster | None:
        groups = self._lists.get(key)
        if groups is None:
            groups = self._lists[key] = self._index(ids())
        best: tuple[int, int, LogCluster] | None = None
        for fixed, table in groups:
            hit = table.get(tuple(tokens[i] for i in fixed))
            if hit is not None:
                params = len(tokens) - len(fixed)
                if best is None or (params, -hit[0]) > (best[0], -best[1]):
                    best = (params, hit[0], hit[1])
        return None if best is None else best[2]

    def _index(self, cluster_ids: Sequence[int]) -> list[tuple[tuple[int, ...], dict]]:
        param = self.drain.param_str
        groups: dict[tuple[int, ...], dict] = {}
        for order, cid in enumerate(cluster_ids):
            cluster = self.drain.id_to_cluster.get(cid)
            if cluster is None:
                continue
            t = cluster.log_template_tokens
            fixed = tuple(i for i, tok in enumerate(t) if tok != param)
            groups.setdefault(fixed, {}).setdefault(tuple(t[i] for i in fixed), (order, cluster))
        return list(groups.items())


class _IndexedDrain(Drain):
    """A Drain that never evicts a template (the known templates, mined offline), whose
    ``fast_match`` compares a line only with the templates that can reach the similarity
    threshold, with drain3's answer.

    drain3 compares each line with every template of its tree leaf, and a leaf holds every
    template of one length and first token: a training file of mostly distinct lines (free
    text, an unmasked id) took O(templates) per line, 5,000 lines 6 s, 20,000 lines 100 s.
    Here each leaf keeps, per (position, token) of its templates, the templates having it. A
    template reaches ``sim_th`` with at least ``k`` equal tokens of the line's ``n``, so it has
    one in any ``n - k + 1`` of the line's positions: the templates of the shortest such
    lists are the only candidates, compared in the leaf's order as drain3 does. A template's
    tokens only ever become ``<*>``, so an entry can be stale (a candidate too many, never
    one too few), and nothing leaves a leaf: its list only grows.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # a leaf's first template id -> (its ids indexed so far, (position, token) -> places)
        self._postings: dict[int, tuple[list[int], dict[tuple[int, str], list[int]]]] = {}

    def add_seq_to_prefix_tree(self, root_node: Any, cluster: LogCluster) -> None:
        """drain3's insertion of a new template into the tree, appending its id to the leaf.

        drain3 rebuilds the leaf's whole list at each insertion to drop the ids its cache
        evicted: with mostly distinct lines of one length and first token (one leaf) that is
        O(templates) per line, quadratic in all (20,000 lines: 87 of 90 s profiled, 50,000
        about 40 s unprofiled). Here no template is ever evicted, so the list it would build
        is the old one plus the new id. The walk follows drain3's through the nodes that
        exist; where drain3 would create one (a new leaf, or an empty tree), drain3 inserts.
        """
        tokens = cluster.log_template_tokens
        n = len(tokens)
        node = root_node.key_to_child_node.get(str(n))
        depth = 1
        while node is not None and n:
            if depth >= self.max_node_depth or depth >= n:
                node.cluster_ids.append(cluster.cluster_id)
                return
            token = tokens[depth - 1]
            children = node.key_to_child_node
            child = children.get(token)
            if child is None:  # drain3 goes to <*> where it exists and adds no child
                param = children.get(self.param_str)
                numeric = self.parametrize_numeric_tokens and self.has_numbers(token)
                if numeric or len(children) >= self.max_children:
                    child = param
            node = child
            depth += 1
        super().add_seq_to_prefix_tree(root_node, cluster)

    def fast_match(self, cluster_ids: Sequence, tokens: list, sim_th: float,
                   include_params: bool) -> LogCluster | None:
        n = len(tokens)
        if include_params or sim_th <= 0 or n == 0 or len(cluster_ids) < 8:
            return super().fast_match(cluster_ids, tokens, sim_th, include_params)
        indexed, postings = self._postings.setdefault(cluster_ids[0], ([], {}))
        for place in range(len(indexed), len(cluster_ids)):
            cid = cluster_ids[place]
            indexed.append(cid)
            for pos, tok in enumerate(self.id_to_cluster[cid].log_template_tokens):
                if tok != self.param_str:
                    postings.setdefault((pos, tok), []).append(place)
        places = _within_reach([postings.get((pos, tok), ()) for pos, tok in enumerate(tokens)],
                               sim_th)
        if places is None:
            return None
        return super().fast_match([cluster_ids[p] for p in sorted(places)], tokens, sim_th,
                                  False)


def _within_reach(postings: list[Collection[Any]], sim_th: float) -> set[Any] | None:
    """Of a line's ``postings`` (per token position, the templates holding that token there),
    the templates that can reach ``sim_th``: one equal to the line at ``k`` of its ``n``
    positions is missing from at most ``n - k`` of the lists, so it is in one of any
    ``n - k + 1`` of them, the shortest taken. None: no template can (``k > n``)."""
    n = len(postings)
    k = _fewest_equal(n, sim_th)
    if k > n:
        return None
    return set().union(*sorted(postings, key=len)[: n - k + 1])


def _fewest_equal(n: int, sim_th: float) -> int:
    """The fewest of a line's ``n`` tokens a template must equal to reach ``sim_th``, as
    drain3 divides (``n + 1``: none can)."""
    k = math.ceil(sim_th * n)
    while k > 1 and (k - 1) / n >= sim_th:
        k -= 1
    while k <= n and k / n < sim_th:
        k += 1
    return k


class _DropAwareCache(LogClusterCache):
    """drain3's LRU cache of live templates, telling ``on_drop`` of each one it drops."""

    def __init__(self, maxsize: int, on_drop: Callable[[int], None]) -> None:
        super().__init__(maxsize=maxsize)
        self.on_drop = on_drop

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self.on_drop(key)
        return key, value


class _LiveDrain(Drain):
    """The live miner's Drain (capped at ``max_clusters``: drain3's cache drops the least
    recently seen template), whose ``fast_match`` compares a line only with the templates
    that can reach the similarity threshold, with drain3's answer (as :class:`_IndexedDrain`).

    drain3 compares each unseen line with every live template of its tree leaf, and a leaf
    holds every template of one length and first token: a flood of distinct lines cost
    O(``max_clusters`` x tokens) per line; at the cap of 1,000 a 64 KiB line of distinct
    words took about 0.3 s to count, on serve's path. Here :attr:`postings` maps (length,
    position, token) to the templates held that have it; a template's entries go when the
    cache drops it, so the index holds at most ``max_clusters`` templates' tokens.

    A dropped template leaves its tree leaf then too. drain3 cleans a leaf only when a new
    template joins it, so a burst of new templates of one length and first token stayed in
    their leaf once dropped: the leaves held up to ``max_clusters`` ids each, growing with
    the unseen lines read (99,000 lines in 99 shapes at the cap of 1,000: 99,000 ids). A
    leaf's dropped ids are ones drain3 skips, so the answers are drain3's. The tree's nodes
    stay (as in drain3, they steer later lines), bounded by the line lengths and
    ``max_children``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.postings: dict[tuple[int, int, str], set[int]] = {}
        # template id -> tokens it is indexed by, and its tree leaf
        self._indexed: dict[int, tuple[tuple[str, ...], Any]] = {}
        if self.max_clusters is not None:  # told of each template the cap drops
            self.id_to_cluster = _DropAwareCache(self.max_clusters, self._unindex)

    def add_seq_to_prefix_tree(self, root_node: Any, cluster: LogCluster) -> None:
        """drain3's insertion of a new template, indexed here too."""
        super().add_seq_to_prefix_tree(root_node, cluster)
        tokens = tuple(cluster.log_template_tokens)
        n = len(tokens)
        self._indexed[cluster.cluster_id] = (tokens, self._leaf(root_node, tokens))
        for pos, tok in enumerate(tokens):
            if tok != self.param_str:
                self.postings.setdefault((n, pos, tok), set()).add(cluster.cluster_id)

    def _leaf(self, root_node: Any, tokens: tuple[str, ...]) -> Any:
        """The leaf drain3 just inserted a template of ``tokens`` into: its walk, through the
        token's child where there is one, else through ``<*>``'s (where drain3 went)."""
        n = len(tokens)
        node = root_node.key_to_child_node[str(n)]
        depth = 1
        for token in tokens:
            if depth >= self.max_node_depth or depth >= n:
                break
            children = node.key_to_child_node
            child = children.get(token)
            node = children[self.param_str] if child is None else child
            depth += 1
        return node

    def _unindex(self, cluster_id: int) -> None:
        tokens, leaf = self._indexed.pop(cluster_id, ((), None))
        if leaf is not None and cluster_id in leaf.cluster_ids:
            leaf.cluster_ids.remove(cluster_id)
        n = len(tokens)
        for pos, tok in enumerate(tokens):
            ids = self.postings.get((n, pos, tok))
            if ids is not None:
                ids.discard(cluster_id)
                if not ids:
                    del self.postings[(n, pos, tok)]

    def fast_match(self, cluster_ids: Sequence, tokens: list, sim_th: float,
                   include_params: bool) -> LogCluster | None:
        n = len(tokens)
        if include_params or sim_th <= 0 or n == 0 or len(cluster_ids) < 8:
            return super().fast_match(cluster_ids, tokens, sim_th, include_params)
        # A template's tokens only ever become <*>: an entry can be stale (a candidate too
        # many), never missing. The candidates are compared in the leaf's order, as drain3.
        candidates = _within_reach(
            [self.postings.get((n, pos, tok), ()) for pos, tok in enumerate(tokens)], sim_th)
        if candidates is None:
            return None
        return super().fast_match([cid for cid in cluster_ids if cid in candidates], tokens,
                                  sim_th, False)


class TemplateMiner:
    """Known templates (learned offline) plus a capped miner for unseen lines.

    ``learn`` mines training lines. At scoring time ``match`` finds a line's known template
    or returns None (an *unseen* line); ``learn_unseen`` groups unseen lines into new
    templates so alerts can name them, keeping at most ``max_new_clusters`` of them (least
    recently seen dropped first, counted in ``dropped``).
    """

    def __init__(self, masking: Sequence[str] = MASK_NAMES, similarity_threshold: float = 0.4,
                 tree_depth: int = 4, max_children: int = 100,
                 max_new_clusters: int = 1000) -> None:
        unknown = [n for n in masking if n not in MASKS]
        if unknown:
            raise ValueError(f"unknown masking rule(s) {unknown}; known: {', '.join(MASKS)}")
        self.masking = tuple(masking)
        self.settings = {"similarity_threshold": float(similarity_threshold),
                         "tree_depth": int(tree_depth), "max_children": int(max_children)}
        self.max_new_clusters = int(max_new_clusters)
        self.masker = LogMasker([MASKS[n] for n in self.masking], "<", ">")
        self._rules = [(_NEEDS[n], MASKS[n]) for n in self.masking]
        self.known = self._drain(indexed=True)
        self._matcher: ExactMatcher | None = None  # of ``known``; None after it changed
        self.new = self._drain(self.max_new_clusters)
        self.dropped = 0  # new templates dropped by the cap

    def _drain(self, max_clusters: int | None = None, indexed: bool = False) -> Drain:
        s = self.settings
        return (_IndexedDrain if indexed else _LiveDrain)(
            depth=s["tree_depth"], sim_th=s["similarity_threshold"],
            max_children=s["max_children"], max_clusters=max_clusters, param_str=_PARAM)

    # ------------------------------------------------------------------ mining

    def mask(self, message: str) -> str:
        """``message`` with its credentials as ``<SECRET>`` (:func:`redact_secrets`), then the
        masking rules applied in order: what drain3's ``LogMasker`` of them (:attr:`masker`)
        returns, without running a rule on a line that lacks what it needs (``_NEEDS``).

        Templates are mined from this text, so none holds a credential: until 2026-12-07 a
        line seen once in training (``db login failed password=hunter2``) was its own
        template, in a bundle's miner state (``extras/logs.json``) and the alarm-storm note.

        >>> TemplateMiner().mask("login ok for user 1466 from 10.0.155.73 pwd=x1")
        'login ok for user <NUM> from <IP> pwd=<SECRET>'
        """
        message = redact_secrets(message)
        digits: bool | None = None
        for needs, rule in self._rules:
            if type(needs) is str:
                if needs not in message:
                    continue
            else:
                if digits is None:
                    digits = needs.search(message) is not None  # type: ignore[union-attr]
                if not digits:
                    continue
            message = rule.mask(message, "<", ">")
        return message

    def learn(self, message: str) -> int:
        """Mine one training line; returns its template id."""
        cluster, _ = self.known.add_log_message(self.mask(message))
        self._matcher = None
        return int(cluster.cluster_id)

    def learn_all(self, messages: Iterable[str]) -> list[int]:
        return [self.learn(m) for m in messages]

    def match(self, message: str) -> int | None:
        """The known template of a line, or None when it matches none (unseen)."""
        return self.match_masked(self.mask(message))

    def match_masked(self, masked: str) -> int | None:
        if self._matcher is None:
            self._matcher = ExactMatcher(self.known)
        cluster = self._matcher.match(masked)
        return None if cluster is None else int(cluster.cluster_id)

    def learn_unseen(self, masked: str) -> int:
        """Group an unseen (already masked) line into a new template; returns its id."""
        before = len(self.new.id_to_cluster)
        cluster, change = self.new.add_log_message(masked)
        if change == "cluster_created" and before >= self.max_new_clusters:
            self.dropped += 1  # the cache evicted its least recently seen template
        return int(cluster.cluster_id)

    # ------------------------------------------------------------------ templates

    def knows(self, cluster_id: int) -> bool:
        """Whether ``cluster_id`` is one of the known (training) templates."""
        return cluster_id in self.known.id_to_cluster

    def known_texts(self) -> dict[int, str]:
        """Each known template's id and text."""
        return {cid: str(c.get_template()) for cid, c in self.known.id_to_cluster.items()}

    def template(self, cluster_id: int) -> str:
        cluster = self.known.id_to_cluster.get(cluster_id)
        if cluster is None:
            raise KeyError(cluster_id)
        return str(cluster.get_template())

    def new_template(self, cluster_id: int) -> str | None:
        cluster = self.new.id_to_cluster.get(cluster_id)
        return None if cluster is None else str(cluster.get_template())

    @property
    def templates(self) -> dict[int, str]:
        """Known template id -> text."""
        return {int(c.cluster_id): str(c.get_template()) for c in self.known.clusters}

    def sizes(self) -> dict[int, int]:
        """Known template id -> training lines it holds."""
        return {int(c.cluster_id): int(c.size) for c in self.known.clusters}

    def reset_new(self) -> None:
        """Forget the templates learned live (a fresh scorer, or a reloaded model)."""
        self.new = self._drain(self.max_new_clusters)

    # ------------------------------------------------------------------ state

    def to_dict(self) -> dict[str, Any]:
        """The known templates as plain JSON (the live-learned ones are not saved)."""
        return {
            "state_version": _STATE_VERSION,
            "masking": list(self.masking),
            **self.settings,
            "clusters_counter": int(self.known.clusters_counter),
            "clusters": [[int(c.cluster_id), int(c.size), list(c.log_template_tokens)]
                         for c in sorted(self.known.clusters, key=lambda c: c.cluster_id)],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], max_new_clusters: int = 1000) -> TemplateMiner:
        try:
            if raw["state_version"] != _STATE_VERSION:
                raise BundleError(f"miner state version {raw['state_version']!r} is not "
                                  f"supported (expected {_STATE_VERSION})")
            miner = cls(masking=[str(n) for n in raw["masking"]],
                        similarity_threshold=float(raw["similarity_threshold"]),
                        tree_depth=int(raw["tree_depth"]),
                        max_children=int(raw["max_children"]),
                        max_new_clusters=max_new_clusters)
            drain = miner.known
            for cid, size, tokens in raw["clusters"]:
                cluster = LogCluster([str(t) for t in tokens], int(cid))
                cluster.size = int(size)
                drain.id_to_cluster[int(cid)] = cluster
                drain.add_seq_to_prefix_tree(drain.root_node, cluster)
            drain.clusters_counter = int(raw["clusters_counter"])
            miner._matcher = None
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"malformed template miner state: {exc!r}") from None
        return miner

"""drain3 template mining: masking rules, a frozen set of known templates, a capped miner
for lines seen only at scoring time, and a JSON state (no pickle).

drain3 persists its own state with jsonpickle, which can rebuild arbitrary Python objects
when loaded; a model bundle must never do that, so the state here is plain JSON: the
masking rule names, the Drain settings and every cluster's id, size and template tokens.
Loading re-inserts the clusters into a fresh prefix tree, and matching uses drain3's
``fallback`` search (tree first, then every template of the same length), so a restored
miner gives every line the same template as the miner that was saved.

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

from collections.abc import Iterable, Sequence
from typing import Any

from drain3.drain import Drain, LogCluster
from drain3.masking import LogMasker, MaskingInstruction

from anomaly_gan.errors import BundleError

__all__ = ["MASKS", "TemplateMiner"]

# Masking rules by name (``logs.masking``), applied in the configured order. Each replaces a
# variable part of a line with a placeholder before mining, e.g. "10.0.0.7:8080" -> "<IP>".
_EDGE_L, _EDGE_R = r"(?<![\w.:/-])", r"(?![\w:/-]|\.\w)"
MASKS: dict[str, tuple[str, str]] = {
    "uuid": (_EDGE_L + r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
             r"[0-9a-fA-F]{12}" + _EDGE_R, "UUID"),
    "ip": (_EDGE_L + r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?" + _EDGE_R, "IP"),
    "hex": (_EDGE_L + r"(?:0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)"
            r"[0-9a-fA-F]{8,})" + _EDGE_R, "HEX"),
    "path": (r"(?<![\w.:/-])(?:[\w.-]+)?(?:/[\w.@%+-]+){2,}/?", "PATH"),
    "number": (_EDGE_L + r"[-+]?\d+(?:\.\d+)?" + _EDGE_R, "NUM"),
}
_PARAM = "<*>"
_STATE_VERSION = 1


class TemplateMiner:
    """Known templates (learned offline) plus a capped miner for unseen lines.

    ``learn`` mines training lines. At scoring time ``match`` finds a line's known template
    or returns None (an *unseen* line); ``learn_unseen`` groups unseen lines into new
    templates so alerts can name them, keeping at most ``max_new_clusters`` of them (least
    recently seen dropped first, counted in ``dropped``).
    """

    def __init__(self, masking: Sequence[str] = tuple(MASKS), similarity_threshold: float = 0.4,
                 tree_depth: int = 4, max_children: int = 100,
                 max_new_clusters: int = 1000) -> None:
        unknown = [n for n in masking if n not in MASKS]
        if unknown:
            raise ValueError(f"unknown masking rule(s) {unknown}; known: {', '.join(MASKS)}")
        self.masking = tuple(masking)
        self.settings = {"similarity_threshold": float(similarity_threshold),
                         "tree_depth": int(tree_depth), "max_children": int(max_children)}
        self.max_new_clusters = int(max_new_clusters)
        self.masker = LogMasker([MaskingInstruction(*MASKS[n]) for n in self.masking], "<", ">")
        self.known = self._drain()
        self.new = self._drain(self.max_new_clusters)
        self.dropped = 0  # new templates dropped by the cap

    def _drain(self, max_clusters: int | None = None) -> Drain:
        s = self.settings
        return Drain(depth=s["tree_depth"], sim_th=s["similarity_threshold"],
                     max_children=s["max_children"], max_clusters=max_clusters,
                     param_str=_PARAM)

    # ------------------------------------------------------------------ mining

    def mask(self, message: str) -> str:
        return str(self.masker.mask(message))

    def learn(self, message: str) -> int:
        """Mine one training line; returns its template id."""
        cluster, _ = self.known.add_log_message(self.mask(message))
        return int(cluster.cluster_id)

    def learn_all(self, messages: Iterable[str]) -> list[int]:
        return [self.learn(m) for m in messages]

    def match(self, message: str) -> int | None:
        """The known template of a line, or None when it matches none (unseen)."""
        return self.match_masked(self.mask(message))

    def match_masked(self, masked: str) -> int | None:
        cluster = self.known.match(masked, full_search_strategy="fallback")
        return None if cluster is None else int(cluster.cluster_id)

    def learn_unseen(self, masked: str) -> int:
        """Group an unseen (already masked) line into a new template; returns its id."""
        before = len(self.new.id_to_cluster)
        cluster, change = self.new.add_log_message(masked)
        if change == "cluster_created" and before >= self.max_new_clusters:
            self.dropped += 1  # the cache evicted its least recently seen template
        return int(cluster.cluster_id)

    # ------------------------------------------------------------------ templates

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
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"malformed template miner state: {exc!r}") from None
        return miner

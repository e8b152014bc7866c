import json

import pytest

from anomaly_gan.logs.templates import MASKS, TemplateMiner

CORPUS = [
    "connected to 10.0.0.7:5432 in 12 ms",
    "connected to 10.0.0.9:5432 in 7 ms",
    "user 42 logged in from 192.168.1.20",
    "user 7 logged in from 192.168.1.21",
    "wrote /var/lib/app/data/part-0001.parquet",
    "wrote /var/lib/app/data/part-0002.parquet",
    "request 3f2c1a9e-8b7d-4c2a-9e1f-0a1b2c3d4e5f failed with code 0x1f",
    "request 11111111-2222-3333-4444-555555555555 failed with code 0xff",
    "cache flushed",
    "cache flushed",
]


def test_small_fixed_corpus_gives_the_expected_templates():
    m = TemplateMiner()
    ids = m.learn_all(CORPUS)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5] and ids[6] == ids[7]
    assert len(set(ids)) == 5
    assert sorted(m.templates.values()) == [
        "cache flushed",
        "connected to <IP> in <NUM> ms",
        "request <UUID> failed with code <HEX>",
        "user <NUM> logged in from <IP>",
        "wrote <PATH>",
    ]
    assert m.sizes()[ids[0]] == 2


@pytest.mark.parametrize("rule, text, masked", [
    ("number", "took 12 ms, 3.5 s, -4 retries", "took <NUM> ms, <NUM> s, <NUM> retries"),
    ("ip", "from 10.1.2.3 and 10.1.2.4:8080", "from <IP> and <IP>"),
    ("hex", "addr 0x00544eb8 id deadbeef42", "addr <HEX> id <HEX>"),
    ("path", "open /etc/app/conf.yaml failed", "open <PATH> failed"),
    ("uuid", "job 3f2c1a9e-8b7d-4c2a-9e1f-0a1b2c3d4e5f done", "job <UUID> done"),
])
def test_each_masking_rule(rule, text, masked):
    assert TemplateMiner(masking=[rule]).mask(text) == masked


def test_masking_keeps_words_and_only_applies_configured_rules():
    m = TemplateMiner(masking=["ip"])
    assert m.mask("node r01 has 12 cpus at 10.0.0.1") == "node r01 has 12 cpus at <IP>"
    assert TemplateMiner(masking=[]).mask("x 1 10.0.0.1") == "x 1 10.0.0.1"
    with pytest.raises(ValueError, match="unknown masking rule"):
        TemplateMiner(masking=["ipv9"])
    assert set(MASKS) == {"uuid", "ip", "hex", "path", "path_ids", "number"}


@pytest.mark.parametrize("text, masked", [
    # routes: the words stay, each kind of id in a segment goes
    ("GET /api/v1/cart/7955 200 10ms", "GET /api/v1/cart/<NUM> 200 10ms"),
    ("GET /api/v1/checkout/healthz 200", "GET /api/v1/checkout/healthz 200"),
    ("GET /api/v1/users/3f2c1a9e-8b7d-4c2a-9e1f-0a1b2c3d4e5f/orders 200",
     "GET /api/v1/users/<UUID>/orders 200"),
    ("GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail", "GET /v2/<HEX>/servers/detail"),
    ("GET /s/aGVsbG8gd29ybGQ1MjM0NTY3/view", "GET /s/<ID>/view"),  # a base64url token
    ("GET /s/dGhpc0lzX2FfcmVhbGx5X2xvbmdfdG9rZW4tMTIz/view", "GET /s/<ID>/view"),
    # query strings: keys stay, values go (a value-less key stays)
    ("GET /api/v1/search?q=red+shoes&page=2&debug 200",
     "GET /api/v1/search?q=<VAL>&page=<VAL>&debug 200"),
    ("GET /api/v1/cart/12?id=123&x=abc", "GET /api/v1/cart/<NUM>?id=<VAL>&x=<VAL>"),
    # file paths: an id between separators in a file name goes, the name stays
    ("wrote /var/lib/app/data/file-1234.db", "wrote /var/lib/app/data/file-<NUM>.db"),
    ("Snapshotting to /var/lib/zookeeper/version-2/snapshot.300000dcd",
     "Snapshotting to /var/lib/zookeeper/version-<NUM>/snapshot.<HEX>"),
    ("at /cache/application_1485248649253_0147/blockmgr-70293f72-844a-4b39-9ad6-fb0ad7e364e4",
     "at /cache/application_<NUM>_<NUM>/blockmgr-<UUID>"),
    ("deleting /data/blk_1781953582842324563 now", "deleting /data/blk_<NUM> now"),
    # nothing variable: as it was (words with a digit at one end are words)
    ("open /etc/httpd/conf/workers2.properties", "open /etc/httpd/conf/workers2.properties"),
    ("copy GLOBALROOT/Device/HarddiskVolumeShadowCopy2/Windows ok",
     "copy GLOBALROOT/Device/HarddiskVolumeShadowCopy2/Windows ok"),
    ("a/b and /healthz?probe=1 and 10/20", "a/b and /healthz?probe=1 and 10/20"),  # no paths
    ("hex /a/deadbeef/b", "hex /a/deadbeef/b"),  # 8 hex letters, no digit: a word
])
def test_path_ids_masks_only_the_ids_of_a_path(text, masked):
    """``path`` made every route one ``<PATH>``, so no template (and no alert) could name the
    endpoint that changed; ``path_ids`` keeps a path's words and masks its ids."""
    assert TemplateMiner(masking=["path_ids"]).mask(text) == masked


@pytest.mark.timeout(20)  # a guard against the hang, not a speed bound: it takes ms
def test_path_ids_masks_a_long_path_segment_in_time_linear_in_its_length():
    """The token rule's check that letters and digits interleave was ``[a-zA-Z].*\\d.*...``
    searched at every letter: quadratic in a segment's length, so a request line with a
    64 KiB segment of letters (a hostile URL in an access log) held the scorer for 20 s,
    on serve's per-line path (these five lines: 50 s). Now linear; the same segments
    are tokens."""
    long = 60_000
    miner = TemplateMiner(masking=["path_ids"])
    for segment, masked in (("x" * long, "x" * long), ("x" * long + "1", "x" * long + "1"),
                            ("x" * long + "1a", "<ID>"), ("9" * long + "z1", "<ID>"),
                            ("9" * long + "z", "9" * long + "z")):
        assert miner.mask(f"GET /api/{segment}/view 200") == f"GET /api/{masked}/view 200"


def test_path_ids_keeps_routes_and_the_default_path_masks_the_whole_path():
    """path_ids is opt-in: a per-pod word inside a path would make each new pod's lines
    unseen templates; the default path masks all of it."""
    lines = [f"GET /api/v1/cart/{n} 200 in {n % 7} ms" for n in (17, 99, 1234)]
    routes = TemplateMiner(masking=["uuid", "ip", "hex", "path_ids", "number"])
    routes.learn_all(lines)
    assert list(routes.templates.values()) == ["GET /api/v1/cart/<NUM> <NUM> in <NUM> ms"]
    default = TemplateMiner()  # the config's default
    assert default.masking == ("uuid", "ip", "hex", "path", "number")
    default.learn_all(lines)
    assert list(default.templates.values()) == ["GET <PATH> <NUM> in <NUM> ms"]
    pods = [f"rotated /var/log/pods/shop_web-0-{pod}_1/app.log" for pod in ("x2x9z", "q7m4k")]
    assert len({default.mask(line) for line in pods}) == 1
    assert len({routes.mask(line) for line in pods}) == 2  # why it is not the default


def test_a_bundle_saved_with_path_keeps_masking_whole_paths():
    """A bundle stores only the rule names (extras/logs.json): one trained with ``path``
    keeps matching its ``<PATH>`` templates beside the new rule (``path``'s regex is
    unchanged)."""
    state = {"state_version": 1, "masking": ["uuid", "ip", "hex", "path", "number"],
             "similarity_threshold": 0.4, "tree_depth": 4, "max_children": 100,
             "clusters_counter": 2,
             "clusters": [[1, 40, ["GET", "<PATH>", "<NUM>", "in", "<NUM>", "ms"]],
                          [2, 3, ["wrote", "<PATH>"]]]}
    old = TemplateMiner.from_dict(json.loads(json.dumps(state)))
    assert old.masking == tuple(state["masking"])
    assert old.mask("GET /api/v1/cart/7955 200 in 3 ms") == "GET <PATH> <NUM> in <NUM> ms"
    assert old.match("GET /api/v1/checkout/x 500 in 9 ms") == 1
    assert old.match("wrote /var/lib/app/data/file-1234.db") == 2
    assert old.to_dict()["masking"] == state["masking"]


def test_state_is_plain_json_and_restores_the_same_matches():
    m = TemplateMiner()
    ids = m.learn_all(CORPUS)
    state = json.loads(json.dumps(m.to_dict()))  # JSON all the way, no pickle
    restored = TemplateMiner.from_dict(state)
    assert restored.templates == m.templates
    assert [restored.match(line) for line in CORPUS] == ids
    assert restored.match("connected to 10.9.9.9:1 in 99 ms") == ids[0]


def test_unseen_lines_are_grouped_into_new_templates_and_the_cap_counts_drops():
    m = TemplateMiner(max_new_clusters=2)
    m.learn_all(CORPUS)
    assert m.match("disk /dev/sda1 is full") is None
    new_ids = [m.learn_unseen(m.mask(line)) for line in (
        "kernel panic on cpu 3", "kernel panic on cpu 5",  # one new template
        "out of memory: killed process 123",
        "segfault at 0x0 in libc")]
    assert new_ids[0] == new_ids[1]
    assert m.new_template(new_ids[0]) is None  # least recently seen, dropped by the cap
    assert m.new_template(new_ids[3]) == "segfault at <HEX> in libc"
    assert len(m.new.id_to_cluster) == 2 and m.dropped == 1
    assert m.match("kernel panic on cpu 3") is None  # live templates never become known


@pytest.mark.parametrize("seed", range(6))
def test_exact_matcher_gives_drain3s_own_fallback_match(seed):
    """ExactMatcher replaces drain3's scan; it must pick the very template drain3 picks
    (the most <*>, the first on a tie, leaf first, then every template of the length)."""
    import random

    from anomaly_gan.logs.templates import ExactMatcher

    rng = random.Random(seed)
    words = ["a", "b", "c", "d", "x1", "y2", "<*>", "open", "close"]

    def line() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))

    m = TemplateMiner(masking=[], similarity_threshold=rng.choice([0.3, 0.5, 0.7]),
                      tree_depth=rng.choice([3, 4, 5]), max_children=rng.choice([2, 3, 100]))
    m.learn_all(line() for _ in range(300))
    matcher = ExactMatcher(m.known)
    queries = [line() for _ in range(2000)]
    got = [matcher.match(q) for q in queries]
    want = [m.known.match(q, full_search_strategy="fallback") for q in queries]
    assert [c and c.cluster_id for c in got] == [c and c.cluster_id for c in want]
    assert sum(c is None for c in want) > 0 and sum(c is not None for c in want) > 100


def test_a_flood_of_unique_lines_is_classified_by_lookup_not_by_scan(monkeypatch):
    """Every line its own template: matching must not compare a line with every template."""
    import random
    import string

    rng = random.Random(0)
    lines = [" ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(6))
                      for _ in range(4)) for _ in range(3000)]
    m = TemplateMiner(masking=[])
    ids = m.learn_all(lines)
    assert len(set(ids)) == len(lines)
    compared = comparisons(monkeypatch)
    assert [m.match(x) for x in lines] == ids
    assert m.match("never seen before at all") is None
    assert compared == [0]


def comparisons(monkeypatch) -> list[int]:
    """``[n]``: how many times drain3 compares a line with a template from now on
    (``Drain.get_seq_distance``)."""
    from drain3.drain import Drain

    count = [0]
    real = Drain.get_seq_distance

    def counting(self, *args, **kwargs):
        count[0] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Drain, "get_seq_distance", counting)
    return count


@pytest.mark.parametrize("seed", range(8))
def test_mining_gives_drain3s_own_templates(seed):
    """The known templates' Drain compares a line only with the templates that can reach the
    similarity threshold: it must mine what drain3 mines (the same template, id and update
    for every line), with a leaf of one first token and many templates too."""
    import random

    from drain3.drain import Drain

    from anomaly_gan.logs.templates import _IndexedDrain

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(rng.choice([3, 6, 15, 40]))]
    firsts = ["GET", "user", "db"] + [f"f{i}" for i in range(rng.choice([1, 150]))]
    settings = {"depth": rng.choice([3, 4, 5]), "max_children": rng.choice([3, 100]),
                "sim_th": rng.choice([0.1, 0.4, 0.5, 0.7, 1.0]), "param_str": "<*>"}
    drain3, ours = Drain(**settings), _IndexedDrain(**settings)
    for _ in range(800):
        line = " ".join([rng.choice(firsts)]
                        + [rng.choice(words) for _ in range(rng.randint(0, 7))])
        want, change = drain3.add_log_message(line)
        got, ours_change = ours.add_log_message(line)
        assert (got.cluster_id, got.log_template_tokens, ours_change) == \
            (want.cluster_id, want.log_template_tokens, change), line
    assert len(drain3.clusters) > 20
    assert tree(ours.root_node) == tree(drain3.root_node)  # the same nodes and leaf lists


def tree(node, held=None) -> tuple:
    """A drain3 prefix tree as plain values: each node's template ids and children. With
    ``held`` (a capped Drain's templates), a leaf's ids as drain3 reads them: those dropped
    by the cap are skipped."""
    return ([cid for cid in node.cluster_ids if held is None or cid in held],
            {key: tree(child, held) for key, child in node.key_to_child_node.items()})


def test_a_flood_of_unique_training_lines_is_mined_without_a_scan(monkeypatch):
    """Every training line its own template, all of one first token (one tree leaf): drain3
    compared each line with every template before it, 5,000 lines took 6 s to mine and
    20,000 took 100 s."""
    import random
    import string

    rng = random.Random(0)
    lines = ["user " + " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(6))
                                for _ in range(3)) for _ in range(2000)]
    compared = comparisons(monkeypatch)
    m = TemplateMiner(masking=[])
    assert len(set(m.learn_all(lines))) == len(lines)
    assert compared[0] < 10 * len(lines)  # drain3: 1,999,000, each line with all before it


def test_a_flood_of_unique_unseen_lines_is_grouped_without_a_scan(monkeypatch):
    """Every unseen line its own live template, all of one first token and length (one tree
    leaf): drain3 compared each with every live template held (up to logs.max_clusters), so
    at the cap a 64 KiB line of distinct words took about 0.3 s to count, on serve's path."""
    import random
    import string

    rng = random.Random(0)
    lines = ["dump " + " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(6))
                                for _ in range(20)) for _ in range(600)]
    m = TemplateMiner(masking=[], max_new_clusters=200)
    compared = comparisons(monkeypatch)
    ids = [m.learn_unseen(line) for line in lines]
    assert len(set(ids)) == len(lines) and m.dropped == len(lines) - 200
    assert compared[0] < 10 * len(lines)  # drain3: 99,900, each line with all held before it


def test_the_live_miners_index_holds_only_the_templates_it_keeps():
    """Templates the cap drops leave the live miner's index too: memory stays bounded by
    logs.max_clusters, not by the unseen lines read."""
    m = TemplateMiner(masking=[], max_new_clusters=50)
    for i in range(3000):
        m.learn_unseen(f"job w{i} x{i} y{i} z{i} failed")
    held = set(m.new.id_to_cluster)
    indexed = {cid for ids in m.new.postings.values() for cid in ids}
    assert len(held) == 50 and indexed <= held


def test_the_live_miners_tree_leaves_hold_only_the_templates_it_keeps():
    """A template the cap drops leaves its tree leaf too. drain3 only cleans a leaf when a new
    template joins it: a burst of new templates of one length and first token (an unmasked id
    in a message of one shape) left all of them in the leaf once the cap had dropped them, so
    the tree's leaves grew with the unseen lines read, not with logs.max_clusters (99,000
    lines in 99 shapes of 1,000: 99,000 ids for the 1,000 templates held)."""
    m = TemplateMiner(masking=[], max_new_clusters=50)
    for shape in range(40):
        first = "job" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[shape]
        for i in range(200):
            m.learn_unseen(f"{first} a{i} b{i} c{i} d{i}")
    ids = [cid for node in _nodes(m.new.root_node) for cid in node.cluster_ids]
    assert len(ids) == len(set(ids)) and set(ids) == set(m.new.id_to_cluster)
    assert m.dropped == 40 * 200 - 50


def _nodes(node) -> list:
    """Every node of a drain3 prefix tree."""
    return [node, *(n for child in node.key_to_child_node.values() for n in _nodes(child))]


@pytest.mark.parametrize("seed", range(12))
def test_live_mining_gives_drain3s_own_templates_under_its_cap(seed):
    """The live miner (capped: least recently seen templates dropped) compares a line only
    with the templates that can reach the similarity threshold: it must give what drain3
    gives with the same cap (the same template, id and update for every line)."""
    import random

    from drain3.drain import Drain

    from anomaly_gan.logs.templates import _LiveDrain

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(rng.choice([6, 40, 200]))]
    firsts = ["GET", "user"]
    settings = {"depth": rng.choice([3, 4, 5]), "max_children": rng.choice([3, 100]),
                "sim_th": rng.choice([0.1, 0.4, 0.5, 0.7, 1.0]), "param_str": "<*>",
                "max_clusters": rng.choice([12, 40, 1000])}
    drain3, ours = Drain(**settings), _LiveDrain(**settings)
    for _ in range(1500):
        line = " ".join([rng.choice(firsts)]
                        + [rng.choice(words + ["<*>"]) for _ in range(rng.randint(2, 4))])
        want, change = drain3.add_log_message(line)
        got, ours_change = ours.add_log_message(line)
        assert (got.cluster_id, got.log_template_tokens, ours_change) == \
            (want.cluster_id, want.log_template_tokens, change), line
    assert drain3.clusters_counter > 5
    # drain3's leaves keep dropped ids until a new template joins them; ours drop them
    assert tree(ours.root_node) == tree(drain3.root_node, held=drain3.id_to_cluster)


def test_a_new_training_template_is_added_to_its_leaf_without_rebuilding_it():
    """drain3 rebuilds a tree leaf's list of templates at every insertion (to drop the ids
    its cache evicted, which the known templates never are): with every line its own
    template in one leaf that copied every template before it, quadratic (20,000 lines: 87
    of 90 s profiled). The leaf's list is now one list that grows."""
    m = TemplateMiner(masking=[])
    m.learn("user a b")
    leaf = m.known.root_node.key_to_child_node["3"].key_to_child_node["user"]
    held = leaf.cluster_ids
    ids = m.learn_all(f"user w{i} x{i}" for i in range(50))
    assert leaf.cluster_ids is held and held == [1, *ids]


def test_routes_that_are_a_short_lines_only_difference_still_merge_in_drain3():
    """What docs/logs.md says of path_ids: masking keeps a route in the line, but drain3
    makes a token that is a line's only difference <*> (4 tokens, 3 alike: similarity 0.75),
    so short access lines of several routes share one template; their examples name them."""
    lines = [f"GET {route.format(n)} 200 {n % 90}ms" for n in range(1, 60)
             for route in ("/api/v1/cart/{}", "/api/v1/checkout", "/api/v1/users/{}")]
    miner = TemplateMiner(masking=["uuid", "ip", "hex", "path_ids", "number"])
    miner.learn_all(lines)
    assert list(miner.templates.values()) == ["GET <*> <NUM> <*>"]


# Lines lacking what one rule or another needs ('-', '.', '/', a digit), lines with all of
# it, a Unicode digit (which \d reads as one) and placeholder-like text.
PREFILTER_LINES = CORPUS + [
    "", "cache flushed", "retry in 5", "no digits here: a-b.c/d", "GET /api/cart/3827 200",
    "login ok for user 1466 from 10.0.155.73", "token 3f4465801af", "id deadbeefcafe",
    "addr 0XABC", "x \u0663\u0664 y", "a-b-c-d-e", "<NUM> <IP> 1.2.3.4/5/6",
    "job 3f2c1a9e-8b7d-4c2a-9e1f-0a1b2c3d4e5f at /var/lib/x/y?id=7&q=a1 from 10.0.0.1:80",
]


@pytest.mark.parametrize("masking", [tuple(MASKS), ("number", "ip"), ("path_ids", "hex"),
                                     ("uuid", "path", "number")])
def test_masking_gives_what_drain3s_masker_gives(masking):
    """The rules a line cannot match are not run (TemplateMiner.mask): the result is the
    one drain3's LogMasker of the same rules returns, rule after rule."""
    m = TemplateMiner(masking=masking)
    for line in PREFILTER_LINES:
        assert m.mask(line) == m.masker.mask(line), line


def test_a_rule_is_not_run_on_a_line_without_what_it_needs(monkeypatch):
    """A line with no '-', '.' or '/' and no digit runs none of the default rules' regexes
    (they were half of a log line's cost in serve); a line with a digit runs the two that
    need one."""
    ran = []
    for name, rule in MASKS.items():
        monkeypatch.setattr(rule, "mask", lambda text, prefix, suffix, name=name, f=rule.mask:
                            ran.append(name) or f(text, prefix, suffix))
    m = TemplateMiner()
    assert m.mask("connection reset by peer") == "connection reset by peer" and ran == []
    assert m.mask("retry 3 of 5") == "retry <NUM> of <NUM>" and ran == ["hex", "number"]

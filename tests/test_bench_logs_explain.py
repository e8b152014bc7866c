"""The log explanation bench (bench/logs_explain.py): each incident changes its one template
(or every template's rate, or its level) in its own time, and nothing else."""

import itertools
import re

import pytest

from bench.logs_explain import INCIDENT, KINDS, NEW, TEMPLATES, generate, slots


def pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"\\S+", re.escape(template)) + "$")


@pytest.fixture(scope="module")
def generated():
    return generate(seed=0, step=60.0)


def test_every_kind_lands_on_each_of_its_targets_once(generated):
    _, incidents = generated
    assert [(i["kind"], i["target"]) for i in incidents] == slots()
    assert {i["kind"] for i in incidents} == set(KINDS)
    for a, b in itertools.pairwise(incidents):  # no overlap, 6 buckets apart
        assert b["start_ts"] - a["end_ts"] >= 6 * 60.0
        assert a["end_ts"] - a["start_ts"] == INCIDENT * 60.0


def _in(ts: float, inc: dict) -> bool:
    return inc["start_ts"] <= ts < inc["end_ts"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_incident_changes_its_template_in_its_time_only(generated, kind):
    lines, incidents = generated
    known = [pattern(t) for _, t, _ in TEMPLATES]
    for inc in (i for i in incidents if i["kind"] == kind):
        during = [x for x in lines if _in(x[0], inc)]
        before = [x for x in lines if inc["start_ts"] - INCIDENT * 60 <= x[0] < inc["start_ts"]]
        j = inc["target"]
        if kind == "new":
            level, text = NEW[j]
            new = pattern(text)
            assert sum(bool(new.match(m)) for _, _, m in during) > 20
            assert all(_in(ts, inc) for ts, _, m in lines if new.match(m))  # only then
            assert all(lv == level for _, lv, m in lines if new.match(m))
        elif kind == "burst":
            assert sum(bool(known[j].match(m)) for _, _, m in during) >= 10 * INCIDENT
        elif kind == "silent":
            assert not any(known[j].match(m) for _, _, m in during)
            assert sum(bool(known[j].match(m)) for _, _, m in before) > 0
        elif kind == "error_surge":
            mine = [lv for _, lv, m in during if known[j].match(m)]
            assert mine and set(mine) == {"ERROR"}  # its lines, at ERROR, counts as usual
            assert all(lv == TEMPLATES[k][0] for _, lv, m in during for k in range(len(known))
                       if k != j and known[k].match(m))
        elif kind == "volume_drop":
            assert len(during) < 0.5 * len(before)
        # every line outside the incidents is a known template at its own level
    quiet = [x for x in lines if not any(_in(x[0], i) for i in incidents)]
    for _, level, m in quiet:
        k = next(k for k, p in enumerate(known) if p.match(m))
        assert level == TEMPLATES[k][0]

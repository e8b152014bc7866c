"""score --alerts against serve, fuzzed: for any file of one entity (gaps, swaps within and
beyond serve.windows.reorder_tolerance_seconds, repeated times, empty/nan/inf cells,
incidents, a counter that resets) and any serve.alerts and serve.windows.hop, the records
``score --alerts`` writes are those serve's Scorer sends for the file's rows as events, in
file order: the same records, ids and order."""

import csv
import dataclasses
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from anomaly_gan.cli import main
from tests.support.stream_fakes import alert_topic_of
from tests.support_models import normal_series

pytestmark = pytest.mark.slow

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
FUZZ = settings(max_examples=8, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def bundles(tiny_detector, tmp_path_factory):
    """The session's tiny detector as it is, and as if trained with data.counters: [flow]
    (a file's flow column is then a running total whose increases are the flows)."""
    from anomaly_gan.artifacts import save_bundle

    d = tmp_path_factory.mktemp("bundles")
    cfg = tiny_detector.config
    counting = dataclasses.replace(tiny_detector, config=cfg.replace(
        data=dataclasses.replace(cfg.data, counters=("flow",))))
    return {False: save_bundle(tiny_detector, d / "plain"),
            True: save_bundle(counting, d / "counting")}


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@st.composite
def pump_files(draw):
    """(CSV lines with a header, serve section, whether flow is a counter)."""
    n = draw(st.integers(24, 160))
    x = normal_series(n, seed=draw(st.integers(0, 3)))
    sd = x.std(axis=0)
    for _ in range(draw(st.integers(0, 2))):  # incidents: level shifts of one feature
        at, length, col = (draw(st.integers(0, n - 1)), draw(st.integers(1, 15)),
                           draw(st.integers(0, 2)))
        x[at:at + length, col] += draw(st.sampled_from([-40, 40])) * sd[col]
    counters = draw(st.booleans())
    if counters:  # a running total of flow, restarted from 0 at one row
        reset = draw(st.integers(1, n - 1))
        total = 1e5 + np.cumsum(np.abs(x[:, 2]))
        total[reset:] = np.cumsum(np.abs(x[reset:, 2]))
        x[:, 2] = total
    gap = draw(st.sampled_from([5.0, 30.0]))
    tolerance = draw(st.sampled_from([0.0, 0.0, 1.0, 2.5, 4.0]))
    steps = np.ones(n)
    steps[0] = 0.0
    for at, step in draw(st.lists(st.tuples(st.integers(1, n - 1), st.sampled_from(
            [0.0, 0.0, 0.5, 2.0, gap, gap + 1.0, 3 * gap])), max_size=6)):
        steps[at] = step  # 0: a repeated time; over gap: the window restarts
    times = START + np.cumsum(steps)
    cells = [[stamp(t), *(f"{v:.6f}" for v in row)] for t, row in zip(times, x, strict=True)]
    for at, col, text in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 3),
                                                  st.sampled_from(["", "nan", "inf", "-inf", "1e400"])),
                                       max_size=4)):
        cells[at][col] = text
    for at, by in draw(st.lists(st.tuples(st.integers(0, n - 2), st.integers(1, 3)),
                                max_size=3)):  # out of order, by a second or more
        other = min(at + by, n - 1)
        cells[at], cells[other] = cells[other], cells[at]
    serve = {"alerts": {"consecutive": draw(st.integers(1, 4)),
                        "cooldown_seconds": float(draw(st.integers(0, 600))),
                        "resolve_windows": draw(st.integers(0, 5))},
             "windows": {"hop": draw(st.integers(1, 3)), "gap_seconds": gap,
                         "reorder_tolerance_seconds": tolerance}}
    lines = ["timestamp,temp,rpm,flow"] + [",".join(row) for row in cells]
    return lines, serve, counters


@FUZZ
@given(case=pump_files())
def test_score_alerts_are_the_records_serve_sends_for_the_same_rows(bundles, tmp_path, capsys,
                                                                    case):
    lines, serve, counters = case
    data, cfg = tmp_path / "pump-7.csv", tmp_path / "serve.yaml"
    data.write_text("\n".join(lines) + "\n")
    cfg.write_text(json.dumps({"serve": serve}))
    out = tmp_path / "alerts.jsonl"
    out.unlink(missing_ok=True)
    rc = main(["score", "--model", str(bundles[counters]), "--data", str(data),
               "--out", str(tmp_path / "s.csv"), "--alerts", str(out), "--config", str(cfg)])
    err = capsys.readouterr().err
    rows = list(csv.reader(lines[1:]))
    tolerance = serve["windows"]["reorder_tolerance_seconds"]
    # over 5% of the rows late: score refuses the file as not in time order (README)
    assume("expected rows in time order" not in err)
    if rc == 2:  # fewer rows in time order than a window: serve scores no window either
        assert "need at least one window" in err, err
        offline = []
    else:
        assert rc == 0, err
        offline = [json.loads(line) for line in out.read_text().splitlines()]
    if tolerance:  # the event that releases the rows serve still holds, as score releases
        newest = max(datetime.fromisoformat(r[0]).timestamp() for r in rows)  # them
        rows.append([stamp(newest + tolerance), "20", "1500", "10"])
    event(f"late rows: {'late rows left out' in err}; dead letters: {'dead-letters' in err}; "
          f"counters: {counters}; tolerance: {tolerance > 0}")
    event(f"records: {'some' if offline else 'none'}; resolutions: "
          f"{'some' if any(r['status'] == 'resolved' for r in offline) else 'none'}")
    assert alert_topic_of(bundles[counters], serve, rows) == offline

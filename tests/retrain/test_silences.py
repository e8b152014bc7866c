"""A retrain leaves out the spans of serve's silences (serve.alerts.silences_path).

An alert inside a silence is never written to the alert topic, so a maintenance window (a
pump being repaired) left no alert for retrain to exclude and entered the new baseline as
normal, unless the current version's threshold happened to catch it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from anomaly_gan.retrain.run import RetrainRequest
from anomaly_gan.stream.alerts import iso_utc
from tests.retrain.conftest import ENV, snapshot
from tests.retrain.plant import FEATURES, START_TS, STEP_S, TINY, incident, rows
from tests.support.cli import run_cli

N = 600
MARGIN_S = 30.0  # retrain.alert_margin_seconds: 3 rows each side


def timed_csvs(tmp: Path, series: dict[str, np.ndarray]) -> list[str]:
    """One CSV per entity (its stem) with an epoch ``timestamp`` column, a row every 10 s."""
    paths = []
    for entity, values in series.items():
        path = tmp / f"{entity}.csv"
        ts = START_TS + STEP_S * np.arange(len(values))
        np.savetxt(path, np.column_stack([ts, values]), delimiter=",", fmt="%.6f",
                   header=",".join(("timestamp", *FEATURES)), comments="")
        paths.append(str(path))
    return paths


def row_ts(i: int) -> float:
    return START_TS + STEP_S * i


def write_config(tmp: Path, silences: str, name: str = "config.yaml", **retrain) -> str:
    path = tmp / name
    path.write_text(yaml.safe_dump({**TINY, "serve": {"alerts": {"silences_path": silences}},
                                    "retrain": {"alert_margin_seconds": MARGIN_S, **retrain}}))
    return str(path)


@pytest.mark.slow
def test_a_silenced_incident_stays_out_of_the_new_baseline(store, tmp_path):
    """pump-1 has an rpm excursion (rows 200-259) in a silence by id, pump-2 rows 100-119 in
    a silence by pattern; with exclude_over_threshold off and no alerts (files), only the
    silences keep them out. The version's lineage counts the rows and windows they left out
    and names the silences applied."""
    from anomaly_gan.artifacts import inspect_bundle
    from anomaly_gan.config import load_config
    from anomaly_gan.retrain.run import retrain

    data = timed_csvs(tmp_path, {"pump-1": incident(rows(N, seed=81), 200, 60),
                                 "pump-2": rows(N, seed=82)})
    silences = tmp_path / "silences.yaml"
    silences.write_text(yaml.safe_dump({"silences": [
        {"entity": "pump-1", "start": row_ts(200), "end": row_ts(260), "comment": "CHG-1"},
        {"entity": "*-2", "start": row_ts(100), "end": row_ts(120)},
        {"entity": "fan-1", "end": row_ts(N)}]}))
    cfg = load_config(write_config(tmp_path, str(silences), exclude_over_threshold=False))
    said: list[str] = []
    result = retrain(cfg, RetrainRequest(store=str(store.root), files=tuple(data)),
                     progress=said.append)
    sel = inspect_bundle(store.path_of(result.version)).metadata["lineage"]["selection"]
    assert sel == result.report["lineage"]["selection"]
    # [start - 30 s, end + 30 s): pump-1 rows 197-262, pump-2 rows 97-122
    assert sel["rows_excluded"] == {"alerted": 0, "silenced": 66 + 26, "labelled": 0,
                                    "over_threshold": 0, "too_short": 0}
    assert sel["windows_excluded"]["silenced"] == 66 + 26
    assert sel["rows_kept"] == 2 * N - 92 == sel["train_rows"] + sel["holdout_rows"]
    assert sel["silences"] == {
        "path": str(silences), "in_file": 3, "applied_total": 2, "applied": [
            {"entity": "*-2", "start": iso_utc(row_ts(100)), "end": iso_utc(row_ts(120)),
             "comment": "", "rows": 26},
            {"entity": "pump-1", "start": iso_utc(row_ts(200)), "end": iso_utc(row_ts(260)),
             "comment": "CHG-1", "rows": 66}]}
    assert f"[read] 3 silence(s) in {silences} (serve.alerts.silences_path): their spans " \
           f"are left out" in said
    line = next(s for s in said if s.startswith("[filter] excluded"))
    assert "92 silenced, 0 labelled" in line and "92 silenced +-30s by 2 silence(s)" in line


def test_a_silences_file_that_cannot_be_read_stops_the_retrain_in_one_line(store, tmp_path):
    """Refused, exit 2, before TensorFlow loads and with the store untouched: training
    without it would learn its maintenance windows as normal."""
    data = timed_csvs(tmp_path, {"pump-1": rows(N, seed=83)})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"silences": [{"entity": "pump-1", "start": row_ts(10),
                                                 "end": row_ts(5)}]}))
    # milliseconds for seconds: was taken, and the report of the rows it left out stopped
    # the retrain on a ValueError traceback (no datetime past the year 9999)
    ms = tmp_path / "ms.yaml"
    ms.write_text(yaml.safe_dump({"silences": [{"entity": "pump-1", "end": 1772330400000}]}))
    before = snapshot(store.root)
    base = ["retrain", "--store", str(store.root), "--data", *data, "--quiet"]
    probe = run_cli([*base, "--config", write_config(tmp_path, str(tmp_path / "gone.yaml"),
                                                     "gone.yaml.config")],
                    [*base, "--config", write_config(tmp_path, str(bad), "bad.config")],
                    [*base, "--config", write_config(tmp_path, str(ms), "ms.config")],
                    env=ENV)
    assert not probe["tensorflow"]
    tail = ("; retrain leaves out the silenced spans (maintenance, whose alerts serve never "
            "sent) and does not train without them")
    for (rc, err), first in zip(probe["results"], (
            f"{tmp_path / 'gone.yaml'}: silences file not found (serve.alerts.silences_path)",
            f"{bad}: silences[0].end: expected a time after start ",
            f"{ms}: silences[0].end: expected an RFC 3339 time with a zone")):
        assert rc == 2 and "Traceback" not in err, err
        assert err.count("\n") == 1 and err.startswith(f"anomaly-gan: error: {first}"), err
        assert err.rstrip("\n").endswith(tail), err
    assert snapshot(store.root) == before

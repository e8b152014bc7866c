"""score --alerts' core (stream/offline.py): serve's windows, debounce and records for a file."""

import numpy as np
import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.stream.offline import alerts_of_series
from tests.support_models import normal_series

pytestmark = pytest.mark.slow


def test_alerts_take_the_series_scores_instead_of_running_the_model_again(tiny_detector,
                                                                          monkeypatch):
    """score --alerts ran the model over every window a second time after score had scored
    them all (twice the model time on a 50,000-row file). A window serve scores is the
    series' window ending at its last event, also with serve.windows.hop, a gap that
    restarts the window and several incidents: the records are those of scoring each
    window anew, and the model is not called."""
    det = tiny_detector
    x = normal_series(400, seed=7)
    for at in (120, 260):
        x[at:at + 6, 1] += 40 * x[:100, 1].std()
    times = np.arange(400.0)
    times[200:] += 3600.0  # a gap over gap_seconds: serve's window restarts there
    serve = config_from_dict({"serve": {
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0, "resolve_windows": 2},
        "windows": {"hop": 3, "gap_seconds": 60.0}}}).serve
    anew = alerts_of_series(det, serve, "pump", times, x)
    assert sum(r["status"] == "firing" for r in anew) >= 2
    assert any(r["status"] == "resolved" for r in anew)
    series = det.score_series(x)

    def no_model(windows):
        raise AssertionError(f"the model ran again over {len(windows)} windows")

    monkeypatch.setattr(det, "score_windows", no_model)
    assert alerts_of_series(det, serve, "pump", times, x, series) == anew


def test_dead_letters_are_the_rows_serve_sends_to_the_dead_letter_topic():
    """score --alerts leaves out a file's row exactly when serve's parser refuses the event
    of its values (a missing cell is NaN; serve fills nothing), with the reason and detail
    serve's dead-letter headers carry; a large but finite value is an event."""
    import json

    from anomaly_gan.stream.events import EventParser
    from anomaly_gan.stream.offline import dead_letters

    rows = np.array([[1.0, 2.0], [np.nan, 2.0], [1.0, np.inf], [-np.inf, np.nan],
                     [1e308, -1e308], [0.0, -0.0]])
    parser = EventParser(("temp", "rpm"), max_event_bytes=4096)
    served = [parser.parse(json.dumps({"entity": "pump-7", "ts": i,
                                       "values": row}).encode())
              for i, row in enumerate(rows.tolist())]
    refused = [(i, ev) for i, ev in enumerate(served) if not hasattr(ev, "values")]
    assert [i for i, _ in refused] == [1, 2, 3]
    assert dead_letters(rows) == refused

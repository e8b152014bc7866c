"""score, evaluate and plot on one entity (--entity) of an OpenTelemetry metric file of
several: what they say names that entity, not the file alone."""

from __future__ import annotations

import json
import math

import pytest

from anomaly_gan.cli import main
from tests.support.hostmetrics import T0, gauge, point, request

OTLP = {"ANOMALY_GAN__SERVE__EVENT_FORMAT": "otlp_json",
        "ANOMALY_GAN__SERVE__ASSEMBLE_SECONDS": "10",
        "ANOMALY_GAN__SERVE__UNKNOWN_FEATURES": "ignore"}


def metric_file(path, hosts):
    """OTLP/JSON lines of the tiny bundle's features, every 10 s; ``hosts``: name -> rows,
    the hosts interleaved line by line while each has rows left."""
    with path.open("w") as fh:
        for k in range(max(hosts.values())):
            for j, (host, rows) in enumerate(hosts.items()):
                if k < rows:
                    ns = (T0 + 10 * k + 2) * 10**9
                    x = math.sin(k / 5 + j)
                    fh.write(json.dumps(request(host, [
                        gauge("temp", point(20 + x, ns)), gauge("rpm", point(1500 + 50 * x, ns)),
                        gauge("flow", point(3 - x, ns))])) + "\n")
    return path


@pytest.fixture
def otlp_env(monkeypatch):
    for key, value in OTLP.items():
        monkeypatch.setenv(key, value)


def test_an_entity_too_short_for_a_window_is_named(tmp_path, capsys, tiny_bundle, otlp_env):
    """The file holds 45 rows; the error said '{file}: ... got 5 rows' of the picked host."""
    data = metric_file(tmp_path / "m.jsonl", {"web-1": 40, "short": 5})
    assert main(["score", "--model", str(tiny_bundle), "--data", str(data), "--entity",
                 "short", "--out", str(tmp_path / "s.csv")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"anomaly-gan: error: {data} (entity 'short'): need at least one window of 16 rows, "
        f"got 5 rows")


@pytest.mark.parametrize("command", ["plot", "evaluate"])
def test_a_figure_of_one_entity_names_it_in_its_title(tmp_path, capsys, monkeypatch,
                                                      tiny_bundle, otlp_env, command):
    """The title named the file only: web-1's figure and web-2's looked alike."""
    import anomaly_gan.plot

    titles = []
    monkeypatch.setattr(anomaly_gan.plot, "plot_scores",
                        lambda *a, title="", **k: titles.append(title))
    data = metric_file(tmp_path / "m.jsonl", {"web-1": 40, "web-2": 40})
    labels = tmp_path / "labels.csv"
    labels.write_text("0\n" * 40)
    fig = str(tmp_path / "f.png")
    args = (["plot", "--out", fig] if command == "plot"
            else ["evaluate", "--plot", fig, "--labels", str(labels)])
    assert main([*args, "--model", str(tiny_bundle), "--data", str(data),
                 "--entity", "web-2"]) == 0, capsys.readouterr().err
    assert len(titles) == 1 and titles[0].startswith(f"{data} (entity 'web-2') - ")


@pytest.mark.parametrize("command", ["plot", "evaluate"])
def test_labels_of_the_whole_file_are_refused_naming_the_entity(tmp_path, capsys, tiny_bundle,
                                                                otlp_env, command):
    """Labels for every row of a two-host file, given with --entity: 'expected 40 labels (one
    per data row), got 80' did not say whose 40 rows."""
    data = metric_file(tmp_path / "m.jsonl", {"web-1": 40, "web-2": 40})
    labels = tmp_path / "labels.csv"
    labels.write_text("0\n" * 80)
    out = ["--out", str(tmp_path / "f.png")] if command == "plot" else []
    assert main([command, *out, "--model", str(tiny_bundle), "--data", str(data), "--entity",
                 "web-2", "--labels", str(labels)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"anomaly-gan: error: {labels}: expected 40 labels (one per data row of entity "
        f"'web-2'), got 80")

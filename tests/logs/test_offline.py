"""Log files through train/score/evaluate (the CLI), and the logs bundle."""

import csv
import json
import shutil

import pytest
import yaml

from anomaly_gan.cli import main
from tests.logs.conftest import TINY_LOGS_CONFIG


@pytest.fixture(scope="module")
def cli_bundle(tmp_path_factory, log_files):
    d = tmp_path_factory.mktemp("cli")
    cfg = d / "logs.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    out = d / "model"
    assert main(["train", "--config", str(cfg), "--data", str(log_files["train"]),
                 "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_train_writes_the_miner_state_into_the_checksummed_bundle(cli_bundle):
    manifest = json.loads((cli_bundle / "manifest.json").read_text())
    assert "extras/logs.json" in manifest["files"]
    state = json.loads((cli_bundle / "extras" / "logs.json").read_text())
    texts = {" ".join(tokens) for _, _, tokens in state["miner"]["clusters"]}
    assert "payment gateway timeout after <NUM> ms" in texts


@pytest.mark.slow
def test_a_changed_miner_state_is_refused(cli_bundle, tmp_path):
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.errors import BundleError

    copy = tmp_path / "b"
    shutil.copytree(cli_bundle, copy)
    path = copy / "extras" / "logs.json"
    path.write_text(path.read_text().replace("timeout", "timeouts"))
    with pytest.raises(BundleError, match="checksum mismatch for extras/logs.json"):
        load_bundle(copy)


@pytest.mark.slow
def test_score_names_the_burst_template_and_evaluate_reports_metrics(
        cli_bundle, log_files, service_logs, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["entity"] for r in rows} == {"checkout-svc", "payments-svc", "inventory-svc",
                                           "auth-svc"}
    burst = next(i for i in service_logs.incidents if i["kind"] == "error_burst")
    flagged = [r for r in rows if r["is_anomaly"] == "1" and r["entity"] == "checkout-svc"
               and burst["start_ts"] <= float(r["bucket_start"]) < burst["end_ts"]]
    assert flagged
    assert all(r["templates"].startswith("payment gateway timeout after <NUM> ms x")
               for r in flagged)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--labels", str(log_files["labels"]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] == len(rows) and metrics["anomalous_rows"] > 0
    assert metrics["auc_roc"] > 0.5


def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "logs.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    data = tmp_path / "app.log"
    data.write_text("2026-01-01T00:00:00Z web INFO ok\nnot a log line\n")
    assert main(["train", "--config", str(cfg), "--data", str(data), "--out",
                 str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{data}: line 2: no_match: line does not match logs.regex" in err

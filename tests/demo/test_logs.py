"""``anomaly-gan demo --logs`` end to end, at full speed."""

import pytest

from anomaly_gan.demo.logs import LogsDemoOptions, names_template, run_logs_demo


@pytest.mark.slow
@pytest.mark.kafka
def test_each_incident_alerts_with_its_template(tmp_path, capsys):
    rc = run_logs_demo(LogsDemoOptions(speed=0, http_port=0, out=str(tmp_path)))
    out = capsys.readouterr().out
    assert rc == 0, out
    for kind in ("error_burst", "new_exception", "silent"):
        line = next(x for x in out.splitlines() if x.strip().startswith(kind))
        assert "named" in line and "NOT named" not in line, out
        # ... and resolved once the component is normal again (serve.alerts.resolve_windows)
        assert "alert(s), resolved " in line and " after it ended" in line, line
    assert any(x.startswith("RESOLVED ") for x in out.splitlines()), out


def test_template_naming_ignores_placeholders_and_looks_at_the_first_three():
    alert = {"templates": [{"template": "GET <PATH> <NUM> in <NUM> ms"},
                           {"template": "a"}, {"template": "b"},
                           {"template": "stock level for <*> is <NUM>"}]}
    assert names_template(alert, "GET /api/cart/{num} 200 in {num} ms")
    assert not names_template(alert, "stock level for sku-{num} is {num}")
    assert names_template(alert, "stock level for sku-{num} is {num}", top=4)

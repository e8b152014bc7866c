"""Credentials as <SECRET> in what goes out of log lines (anomaly_gan/logs/secrets.py), the
leaks the redaction spec fuzz found (tests/logs/test_redact_spec_fuzz.py)."""

from __future__ import annotations

import json

import pytest

from anomaly_gan.config import LogsConfig
from anomaly_gan.logs.events import LogEvent, LogParser
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.templates import redact_secrets


@pytest.mark.parametrize("line, want", [
    # a quoted value runs to its closing quote: a passphrase, separators of pairs inside it
    ('{"password": "correct horse, battery", "user": "bob"}',
     '{"password": "<SECRET>", "user": "bob"}'),
    ("db_password='a b;c&d' user=bob", "db_password='<SECRET>' user=bob"),
    ("{'client_secret': 'x y z', 'retries': 3}", "{'client_secret': '<SECRET>', 'retries': 3}"),
    # a JSON string's escaped quote does not end it
    ('{"api_key": "ab\\"cd ef", "n": 2}', '{"api_key": "<SECRET>", "n": 2}'),
    # JSON inside a JSON string (an OTLP kvlist body): the key naming none is searched
    # inside, and an escaped tab ends an unquoted value
    ('{"msg": "login pwd=hunter2\\tfrom 10.0.0.7", "user": "bob"}',
     '{"msg": "login pwd=<SECRET>\\tfrom 10.0.0.7", "user": "bob"}'),
    ('{"msg": "body {\\"password\\": \\"a b\\\\\\"c\\"}"}',
     '{"msg": "body {\\"password\\": \\"<SECRET>\\"}"}'),
    ('{"msg": "completion_tokens=97\\tclient_api-key: \'10.98.187.65\'"}',
     '{"msg": "completion_tokens=97\\tclient_api-key: \'<SECRET>\'"}'),
    # a scheme's token as a key's value
    ("x-auth-token: Bearer abcdef0123456789", "x-auth-token: <SECRET> <SECRET>"),
    # AWS access key ids
    ('using AKIAIOSFODNN7EXAMPLE and "aws_id": "ASIAJKRKAEHVBFRNYZ4G"',
     'using <SECRET> and "aws_id": "<SECRET>"'),
])
def test_credentials_in_these_forms_go_out_as_secret(line, want):
    assert redact_secrets(line) == want


@pytest.mark.parametrize("line", [
    "falling back to basic authentication for alice@example.com",
    "Basic Authentication failed from 192.168.7.21",
    "usage (max_tokens=512) prompt_tokens: 523.",
    "request_id=req-4821 trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
])
def test_ordinary_words_counts_and_ids_stay(line):
    """docs/logs.md: emails, IPs, ids and counts of tokens stay; "basic authentication"
    went out as "basic <SECRET>", "(max_tokens=512)" as "max_tokens=<SECRET>"."""
    assert redact_secrets(line) == line


def test_a_bundles_templates_hold_no_credential():
    """A line seen once in training was its own template, its password in the bundle's
    miner state (extras/logs.json) and the alarm-storm note's column texts."""
    lines = ["db login failed password=hunter2", "cache warm", "cache warm",
             'call {"api_key": "sk live 51HxQ2a"} failed', "Authorization: Basic dXNlcjpwYXNz"]
    model, ids = fit_log_model(LogsConfig(top_k=5), lines)
    state = json.dumps(model.to_dict())
    texts = [model.column_text(f) for f in model.feature_names]
    for secret in ("hunter2", "51HxQ2a", "dXNlcjpwYXNz"):
        assert secret not in state
        assert not any(secret in t for t in texts)
    assert "'db login failed password=<SECRET>'" in texts
    # the line is still its template's, read again
    assert model.miner.match("db login failed password=hunter2") == ids[0]


def test_an_example_is_redacted_before_it_is_cut():
    """An AWS key id cut in two at 2,000 characters was no longer one, and went out."""
    ev = LogEvent("a", None, "INFO", "x" * 1990 + " AKIAIOSFODNN7EXAMPLE")
    assert "AKIAIOSFO" not in ev.example()


def test_a_line_the_regex_does_not_match_is_quoted_without_its_credentials():
    """The detail of a no_match line (a dead letter's header, serve's log, the error of
    logs.bad_lines: error) quoted the line as logged."""
    parser = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<level>[A-Z]+) (?P<message>.*)$",
                       entity="app")
    bad = parser.parse("!! login failed password=hunter2 token=abc")
    assert bad.reason == "no_match"
    assert "hunter2" not in bad.detail and "abc" not in bad.detail
    assert "password=<SECRET> token=<SECRET>" in bad.detail


def test_a_value_is_read_only_after_a_key_naming_a_credential(monkeypatch):
    """The value regex ran after every key and read to the end of an unquoted value, and the
    search went on after the key's separator: a line of ``a:a:a:...`` read the rest of the
    line at each of its keys (20,003 characters: 4 s on one record, where a line may have
    64 KiB). Only a key naming a credential has its value read now."""
    from anomaly_gan.logs import secrets

    calls = []
    real = secrets._VALUE

    class Spy:
        def match(self, text, pos):
            calls.append(pos)
            return real.match(text, pos)

    monkeypatch.setattr(secrets, "_VALUE", Spy())
    line = "a:" * 1000 + "b=c; password=hunter2"
    assert secrets.redact_secrets(line) == "a:" * 1000 + "b=c; password=<SECRET>"
    assert calls == [len(line) - len("hunter2")]

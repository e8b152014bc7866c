"""Credentials as <SECRET> in what goes out of log lines (anomaly_gan/logs/secrets.py), the
leaks the redaction spec fuzz found (tests/logs/test_redact_spec_fuzz.py)."""

from __future__ import annotations

import json

import pytest

from anomaly_gan.config import LogsConfig
from anomaly_gan.logs.events import LogEvent, LogParser
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.secrets import quote_redacted
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


PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"


@pytest.mark.parametrize("line, want", [
    # a PEM private key: its body, across the event's continuation lines, in a JSON string
    # (\n escapes), or to the end of a text cut before its END line
    ((f"loaded key -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nVLPHCozMxH2Mo4lg\n"
     f"-----END RSA PRIVATE KEY----- ok"),
     "loaded key -----BEGIN RSA PRIVATE KEY-----<SECRET>-----END RSA PRIVATE KEY----- ok"),
    (f'{{"key": "-----BEGIN PRIVATE KEY-----\\n{PEM_BODY}\\n-----END PRIVATE KEY-----\\n"}}',
     '{"key": "-----BEGIN PRIVATE KEY-----<SECRET>-----END PRIVATE KEY-----\\n"}'),
    (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY} [cut at 2000 characters]",
     "-----BEGIN OPENSSH PRIVATE KEY-----<SECRET> [cut at 2000 characters]"),
    # an Authorization header's credentials, whatever the scheme and length
    ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
     "Authorization: Token <SECRET>"),
    ("proxy-authorization: Bearer abc from 10.0.0.7", "proxy-authorization: Bearer <SECRET> from 10.0.0.7"),
    ('{"Authorization": "Basic Ym9i"}', '{"Authorization": "Basic <SECRET>"}'),
    ("Authorization: sk_live_51HxQ2a", "Authorization: <SECRET>"),
    (('Authorization: Digest username="bob", realm="api", nonce="dcd98b7102dd2f0e", uri="/x", '
     'response="6629fae49393a05397450978507c4ef1"'),
     ('Authorization: Digest username="bob", realm="api", nonce="dcd98b7102dd2f0e", uri="/x", '
     'response="<SECRET>"')),
    ("X-API-Key: 4f9a2b7c1d", "X-API-Key: <SECRET>"),
    # a lone value, then the next header (a word after a value may be a header's name)
    ("authorization: k_9x\tproxy-authorization: A1rq4P7Y", "authorization: <SECRET>\tproxy-authorization: <SECRET>"),
    ("authorization: denied authorization: abc123", "authorization: denied authorization: <SECRET>"),
    # passphrase=, passwd=, pass= with a value that is no count
    ("ssh-add passphrase='blue sky 42' passwd=hunter2", "ssh-add passphrase='<SECRET>' passwd=<SECRET>"),
    ('{"msg": "login\\tpass=hunter2"}', '{"msg": "login\\tpass=<SECRET>"}'),
    ("login pass=hunter2 DB_PASS: s3cr3t {\"pass\": \"x y\"}",
     "login pass=<SECRET> DB_PASS: <SECRET> {\"pass\": \"<SECRET>\"}"),
    # a Cookie's and a Set-Cookie's values, not the Set-Cookie attributes
    ("Cookie: session=abc123; theme=dark; JSESSIONID=9F2C", "Cookie: session=<SECRET>; theme=<SECRET>; JSESSIONID=<SECRET>"),
    ("Set-Cookie: sid=s%3Aabc.def; Path=/; HttpOnly; Max-Age=3600",
     "Set-Cookie: sid=<SECRET>; Path=/; HttpOnly; Max-Age=3600"),
    ('{"cookie": "sessionid=x9y8z7"}', '{"cookie": "sessionid=<SECRET>"}'),
    # URL-encoded pairs
    ("GET /login?next=%2Fhome%3Fpassword%3Dhunter2%26lang%3Den 302",
     "GET /login?next=%2Fhome%3Fpassword%3D<SECRET>%26lang%3Den 302"),
    ("POST /login?user=bob&password=hunter2&remember=1", "POST /login?user=bob&password=<SECRET>&remember=1"),
])
def test_more_forms_of_credentials_go_out_as_secret(line, want):
    assert redact_secrets(line) == want


@pytest.mark.parametrize("line", [
    "tests pass=12 fail=0 skip=3", "PASS: tests/test_login.py", "first pass=1.5 ms",
    "pass=true", "authorization: denied for bob", "Authorization failed: Bearer token expired",
    "bearer token missing", "session=4821 opened", "response=200 in 12 ms",
    "cookie jar cleared", "-----BEGIN CERTIFICATE----- MIIB",
])
def test_more_ordinary_words_stay(line):
    assert redact_secrets(line) == line


@pytest.mark.parametrize("raw, fmt", [
    ('{"ts": "password=hunter2x", "entity": "a", "level": "INFO", "message": "m"}', "json"),
    ("token=hunter2x INFO m", "regex"),
    (('{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "password=hunter2x",'
     ' "body": {"stringValue": "m"}}]}]}]}'), "otlp_json"),
])
def test_a_bad_timestamp_is_quoted_without_its_credentials(raw, fmt):
    """The detail of a bad_timestamp (a dead letter's header, serve's log, score's note)
    quoted the time field as sent."""
    parser = LogParser(format=fmt, entity="app",
                       regex=r"^(?P<ts>\S+) (?P<level>[A-Z]+) (?P<message>.*)$")
    (bad,) = parser.parse_many(raw) if fmt == "otlp_json" else [parser.parse(raw)]
    assert bad.reason == "bad_timestamp", bad
    assert "hunter2x" not in bad.detail and "<SECRET>" in bad.detail, bad.detail


def test_a_url_password_holding_a_pair_is_redacted_whole():
    """`user:pw@host` whose password holds `KEY=`, its key naming a credential (`...PWD...=`):
    the pair rule ran first, took the rest for its value and the `@` with it, so the URL
    rule no longer matched and the password's first part went out (redaction spec fuzz,
    seed 500801)."""
    line = "retrying postgres://frtgzgnv4:KR~%03rMHYEBF~FFPWDu7K=j-@db.local/x max_tokens=512"
    assert redact_secrets(line) == "retrying postgres://frtgzgnv4:<SECRET>@db.local/x max_tokens=512"


@pytest.mark.parametrize("line, want", [
    # prose naming authorization and a digest: a response= hex id stays
    (("cache response=4bf92f3577b34da6a3ce929d0e0e4736 for /artifacts: authorization ok, "
      "digest sha256 verified"), None),
    ("authorization failed: digest mismatch for artifact sha256:9f86d081884c7d659a2feaa0c55ad015",
     None),
    # a Digest header's response, in a JSON string (escaped quotes), a Python dict, unquoted
    (('{"Authorization": "Digest username=\\"bob\\", realm=\\"api\\", '
      'response=\\"6629fae49393a05397450978507c4ef1\\""}'),
     ('{"Authorization": "Digest username=\\"bob\\", realm=\\"api\\", '
      'response=\\"<SECRET>\\""}')),
    ("{'authorization': 'Digest username=\"bob\", response=\"6629fae49393a05397450978507c4ef1\"'}",
     "{'authorization': 'Digest username=\"bob\", response=\"<SECRET>\"'}"),
    (("Proxy-Authorization: digest username=bob,response=6629fae49393a05397450978507c4ef1, "
      "nc=00000001 response=200 in 12 ms"),
     "Proxy-Authorization: digest username=bob,response=<SECRET>, nc=00000001 response=200 in 12 ms"),
])
def test_a_digest_response_is_redacted_only_in_a_digest_header(line, want):
    """A ``response=`` of 16 hex digits or more was redacted anywhere a line held the words
    "authorization" and "digest", prose too; it is a credential only among a Digest
    header's comma-separated parameters."""
    assert redact_secrets(line) == (line if want is None else want)


@pytest.mark.parametrize("line, want", [
    # a PEM private key's body lines sent as events of their own (no BEGIN line before them)
    (PEM_BODY, "<SECRET>"),
    ("    VLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0g+/8==\r", "    <SECRET>\r"),
    ("a:\nMIIEowIBAAKCAQEAu1SU1Lf\n", "a:\n<SECRET>\n"),
    # ids, hex digests, words and paths stay
    ("4bf92f3577b34da6a3ce929d0e0e4736", None),
    ("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", None),
    ("ConnectionPoolExhaustedRetryingNowPlease", None),
    ("/var/lib/app-data/Orders2026/part1.db", None),
    ("2026-12-07T10:00:00Z MIIEowIBAAKCAQEAu1SU1LfVLPHCozMx", None),
])
def test_a_line_of_base64_alone_is_redacted(line, want):
    """A PEM key whose lines arrive one an event (a Kafka record, a log line each): its
    body lines went out as logged, in a no_match detail and in templates."""
    assert redact_secrets(line) == (line if want is None else want)


def test_a_key_body_line_of_its_own_is_quoted_without_it():
    parser = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<level>[A-Z]+) (?P<message>.*)$",
                       entity="app")
    bad = parser.parse(PEM_BODY)
    assert bad.reason == "no_match"
    assert PEM_BODY[:16] not in bad.detail and "<SECRET>" in bad.detail, bad.detail


def test_an_old_bundles_templates_go_out_redacted(monkeypatch):
    """A bundle trained before redaction-before-mining (2026-12-07) keeps credentials in
    its miner state: the texts that go out (the alarm-storm note's column names, an alert's
    and score's templates) are redacted where they are written; ids and matching stay."""
    from anomaly_gan.logs import templates
    from anomaly_gan.logs.model import ALL, LogModel

    with monkeypatch.context() as m:
        m.setattr(templates, "redact_secrets", lambda text: text)
        old, ids = fit_log_model(LogsConfig(top_k=5), ["db login failed password=hunter2",
                                                       "cache warm", "cache warm"])
    assert "hunter2" in json.dumps(old.to_dict())  # as such a bundle holds it
    model = LogModel.from_dict(LogsConfig(top_k=5), json.loads(json.dumps(old.to_dict())))
    model.template_means = {ALL: {t: 1.0 for t in model.template_ids}}
    texts = [model.column_text(f) for f in model.feature_names]
    explained = model.explain([], limit=5)
    assert "'db login failed password=<SECRET>'" in texts
    assert "db login failed password=<SECRET>" in [e["template"] for e in explained]
    assert not any("hunter2" in t for t in texts + [e["template"] for e in explained])
    assert model.template_ids == old.template_ids and ids[0] in model.template_ids


@pytest.mark.parametrize("line, want", [
    # a quoted value holding an escaped quote (RFC 7616's quoted-string), or an escaped
    # backslash last: the parameters after it are still read
    ('Authorization: Digest username="a\\"b", realm="api", response="6629fae49393a05397450978507c4ef1"',
     'Authorization: Digest username="a\\"b", realm="api", response="<SECRET>"'),
    ('Authorization: Digest username="a\\\\", response="6629fae49393a05397450978507c4ef1"',
     'Authorization: Digest username="a\\\\", response="<SECRET>"'),
    # the same in a JSON string: quotes as \", an escaped quote as \\\", a backslash as \\\\
    (('{"Authorization": "Digest username=\\"a\\\\\\"b\\", realm=\\"api\\", '
      'response=\\"6629fae49393a05397450978507c4ef1\\""}'),
     ('{"Authorization": "Digest username=\\"a\\\\\\"b\\", realm=\\"api\\", '
      'response=\\"<SECRET>\\""}')),
    (('{"Authorization": "Digest username=\\"a\\\\\\\\\\", '
      'response=\\"6629fae49393a05397450978507c4ef1\\""}'),
     '{"Authorization": "Digest username=\\"a\\\\\\\\\\", response=\\"<SECRET>\\""}'),
    # a response whose closing quote is not in the text (a text cut), to its end
    ('Authorization: Digest username="bob", response="6629fae4 9393a053',
     'Authorization: Digest username="bob", response="<SECRET>'),
    # a quoted value over a line break, as before
    ('Authorization: Digest username="a\nb", response="6629fae49393a05397450978507c4ef1"',
     'Authorization: Digest username="a\nb", response="<SECRET>"'),
])
def test_a_digest_response_after_an_escaped_quote_is_redacted(line, want):
    """The parameter scan stopped at a quoted value holding an escaped quote
    (``username="a\\"b"``): the ``response`` after it went out as logged."""
    assert redact_secrets(line) == want


def straddling(before: str, secret: str) -> str:
    """A value whose 4,096th character is the 7th of ``secret`` (where quote_redacted cut
    the text before it redacted it), after a long credential that shrinks to ``<SECRET>``."""
    filler = "token=" + "x" * (4096 - 6 - 7 - len(before) - 1) + " "
    return filler + before + secret + " ok"


@pytest.mark.parametrize("before, secret, after", [
    ("postgres://bob:", "hunter2QZpw", "@db.local/x"),  # a URL's password before its '@'
    ("Bearer ", "abcdEFGH1234", ""),  # a token cut under 8 characters
    ("session ", "eyJhbGciOiJIUzI1NiJ9", ".eyJzdWIiOiJib2IifQ.c2ln"),  # a JWT before its dots
    ("using ", "AKIAIOSFODNN7EXAMPLE", ""),  # an AWS key id cut under 20 characters
    ("Authorization: ", "hunterQ7x", ""),  # a lone value cut to a plain word
    ("pass=", "123456abc", ""),  # a pass= value cut to a count
    ('Authorization: Digest username="bob", response="', "6629fae49393a053", '"'),
])
def test_a_credential_the_quote_cut_ran_through_goes_out_as_no_part(before, secret, after):
    """quote_redacted cut the text at 4,096 characters before it redacted it: a credential
    the cut ran through lost the form its rule reads (a URL before its '@', a token under 8
    characters), and with the long credential before it as ``<SECRET>`` its first part
    came into the quoted 80 characters."""
    value = straddling(before, secret)[:-3] + after + " ok"
    quoted = quote_redacted(value, 80)
    assert quoted.startswith("'token=<SECRET> "), quoted
    assert not any(secret[i:i + 3] in quoted for i in range(len(secret) - 2)), quoted


def test_a_long_line_of_base64_is_quoted_without_it():
    """A key's body of more than 4,096 characters alone in a field: cut, its quoted form had
    no closing quote, so it was no "line of base64 alone"."""
    quoted = quote_redacted(PEM_BODY * 80, 80)
    assert PEM_BODY[:8] not in quoted, quoted


def test_a_no_match_line_is_quoted_without_a_credential_the_cut_ran_through():
    parser = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<level>[A-Z]+) (?P<message>.*)$",
                       entity="app")
    bad = parser.parse(straddling("postgres://bob:", "hunter2QZpw")[:-3] + "@db.local/x")
    assert bad.reason == "no_match"
    assert "token=<SECRET>" in bad.detail and "hunter" not in bad.detail, bad.detail

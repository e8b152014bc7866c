"""Seeded log lines with credentials in them, and what the docs say must become of them, for
the redaction spec fuzz (tests/logs/test_redact_spec_fuzz.py, whose docstring gives the
contract). Written from docs/logs.md (*Alert records get one more field*: credentials go
out as ``<SECRET>``) without the product's regexes: each credential is put into a line by
the generator, which therefore knows its value, and the check is that no piece of a value
comes out anywhere log text comes out.

A :class:`Line` is one event's message (its first line and an optional continuation line)
with the credential values it holds (``secrets``) and the documented non-secrets it holds
(``kept``: emails, IPs, ids, counts of tokens, prose naming a credential without a value).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import string
from collections import Counter
from typing import Any, NamedTuple

RULES: Counter[str] = Counter()  # the forms the generator took, for the coverage test

#: docs/logs.md: "the value of a key naming one (password=, pwd:, "api_key": "...",
#: client_secret, x-auth-token, credentials)": the words a key names a credential by, and
#: keys built on them as services write them
KEY_WORDS = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key",
             "credentials", "credential", "passphrase")
KEY_AFFIXES = (("", ""), ("db_", ""), ("x-", ""), ("client_", ""), ("access_", ""),
               ("refresh_", ""), ("", "_hash"), ("DB.", ""), ("aws_", "_key"))
#: Common forms the docs list since this fuzz (docs/logs.md): an AWS access key id
AWS_PREFIXES = ("AKIA", "ASIA")

#: documented non-secrets that must stay as they are: "Emails, IPs and ids stay, and so does
#: a count of tokens (a key ending in tokens with a plain number: max_tokens=512)"; and words
#: that name a credential with no value after them (only "the value of a key" goes)
NON_SECRETS = (
    "user=alice@example.com", "from bob.smith@corp.example.org", "client_ip=192.168.7.21",
    "peer 172.16.0.4:5432", "request_id=req-4821", "order 58213", "max_tokens=512",
    "prompt_tokens: 523", "completion_tokens=97", "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    "password reset requested", "token bucket refilled", "rotating secrets",
    "falling back to basic authentication", "Basic plan renewed", "api key rotation scheduled",
    # docs: "pass" with a count or a flag (a test runner's), and words after a header's name
    "tests pass=12 fail=0", "PASS: tests/test_login.py", "pass=true",
    "authorization: denied for bob", "bearer token missing", "cookie jar cleared",
    "response=200 in 12 ms", "-----BEGIN CERTIFICATE-----",
    # docs: a Digest header's response, not a response= elsewhere in a line
    "upstream response=9e107d9d372bb6826bd81d3542a419d6: authorization ok, digest verified",
)
FILLER = ("login failed for user", "request served", "connecting to upstream", "retrying",
          "cache miss", "payment declined", "session opened", "config loaded",
          "GET /api/v1/orders 200 in 12 ms", "worker 7 started", "db pool exhausted")

_ALNUM = string.ascii_letters + string.digits
_UNICODE = "éüßøñçœ中文字☃ж"
_PUNCT = "!#$%*+-./:<>?@^_~()[]{}|"  # what an unquoted value may hold besides letters


class Line(NamedTuple):
    message: str  # the event's first line
    continuation: str  # the lines after it ("" for none)
    secrets: tuple[str, ...]  # each credential value, as the generator chose it
    kept: tuple[str, ...]  # documented non-secrets in the line
    bad_ts: str = ""  # a refused record's time field, where it is a credential

    @property
    def text(self) -> str:
        return f"{self.message}\n{self.continuation}" if self.continuation else self.message


def _random(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def secret_value(rng: random.Random, quoted: bool) -> str:
    """A credential's value: random text (unicode, punctuation), one that the masking rules
    take for a number, an IP, a hex id, a UUID or a path, or a very long one; a quoted value
    may hold spaces and the separators of pairs (``,;&``): the quotes end it."""
    kind = rng.choice(["random", "random", "number", "ip", "hex", "uuid", "path", "long",
                       "words" if quoted else "random"])
    RULES[f"value.{kind}"] += 1
    if kind == "number":  # 10-14 digits, never a 2026 epoch stamp's 17...
        return str(rng.choice("2345689")) + _random(rng, string.digits, 9, 13)
    if kind == "ip":
        # two digits: "2.168." was a run of NON_SECRETS' 192.168.7.21 (found by chance)
        return ".".join(["10"] + [str(rng.randint(20, 99)) for _ in range(3)])
    if kind == "hex":
        return _random(rng, "0123456789abcdef", 16, 40)
    if kind == "uuid":
        h = _random(rng, "0123456789abcdef", 32, 32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if kind == "path":
        return "/" + "/".join(_random(rng, string.ascii_lowercase + string.digits, 6, 10)
                              for _ in range(rng.randint(2, 4)))
    alphabet = _ALNUM * 3 + _UNICODE + _PUNCT
    if kind == "long":
        return _random(rng, _ALNUM, 1, 1) + _random(rng, alphabet, 300, 2500)
    if kind == "words":  # a passphrase: words, spaces, the separators of pairs
        return rng.choice(" ,;&").join(_random(rng, _ALNUM + _UNICODE, 6, 12)
                                       for _ in range(rng.randint(2, 4)))
    # a letter first: a value starting with a quote would be a quoted one
    return _random(rng, _ALNUM, 1, 1) + _random(rng, alphabet, 7, 40)


def _key(rng: random.Random) -> str:
    pre, post = rng.choice(KEY_AFFIXES)
    word = rng.choice(KEY_WORDS)
    key = pre + word + post
    case = rng.choice(["lower", "upper", "title", "mixed"])
    RULES[f"key.case.{case}"] += 1
    if case == "upper":
        return key.upper()
    if case == "title":
        return key.title()
    if case == "mixed":
        return "".join(c.upper() if rng.random() < 0.5 else c for c in key)
    return key


def key_value(rng: random.Random) -> tuple[str, list[str]]:
    """``key<sep>value`` in a form the docs list (``password=``, ``pwd:``, JSON's
    ``"api_key": "..."``), with the value's text as it must not come out."""
    key = _key(rng)
    style = rng.choice(["bare", "bare", "double", "single", "json", "python"])
    RULES[f"kv.{style}"] += 1
    if style == "bare":  # an unquoted value ends at whitespace or a pair's separator
        value = secret_value(rng, quoted=False)
        sep = rng.choice(["=", "=", ": ", ":", " = ", " : "])
        after = rng.choice(["", "", ",", ";", "&"])
        return f"{key}{sep}{value}{after}", [value]
    value = secret_value(rng, quoted=True)
    if style == "double":  # key="value" (logfmt)
        value = value.replace('"', "")
        return f'{key}={chr(34)}{value}{chr(34)}', [value]
    if style == "single":
        value = value.replace("'", "")
        return f"{key}: '{value}'", [value]
    if style == "python":  # a dict as Python prints it
        value = value.replace("'", "").replace("\\", "")
        return f"{{'{key}': '{value}', 'retries': 3}}", [value]
    # JSON: the value escaped as JSON writes it (a quote inside it as \")
    if rng.random() < 0.3:
        value = value[:4] + '"' + value[4:]
        RULES["kv.json.escaped_quote"] += 1
    written = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    sep = rng.choice([": ", ":"])
    text = f'{{"{key}"{sep}{written}, "attempt": 2}}'
    return text, [value, written[1:-1]]


def _b64token(rng: random.Random) -> str:
    """RFC 6750's b64token: letters, digits, -._~+/ then any '='."""
    return _random(rng, _ALNUM, 1, 1) + _random(rng, _ALNUM + "-._~+/", 15, 80) + \
        "=" * rng.randint(0, 2)


def jwt(rng: random.Random) -> str:
    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = {"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}
    payload = {"sub": _random(rng, _ALNUM, 4, 12), "exp": rng.randint(10**9, 2 * 10**9)}
    sig = base64.urlsafe_b64encode(rng.randbytes(rng.randint(16, 64))).decode().rstrip("=")
    return f"{part(header)}.{part(payload)}.{sig}"


def authorization(rng: random.Random) -> tuple[str, list[str]]:
    """An ``Authorization`` header's ``Bearer``/``Basic`` token, as clients and proxies log
    it (docs: "a Bearer/Basic token")."""
    scheme = rng.choice(["Bearer", "Basic"])
    if scheme == "Basic":
        user = _random(rng, string.ascii_lowercase, 3, 8)
        password = _random(rng, _ALNUM + "!#$%", 8, 20)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        values = [token]
    else:
        token = jwt(rng) if rng.random() < 0.3 else _b64token(rng)
        values = [token]
    case = rng.choice([scheme, scheme.lower(), scheme.upper()])
    form = rng.choice(["header", "json", "curl", "kv", "bare"])
    RULES[f"auth.{scheme}.{form}"] += 1
    text = {"header": f"Authorization: {case} {token}",
            "json": f'{{"Authorization": "{case} {token}"}}',
            "curl": f"-H 'authorization: {case} {token}'",
            "kv": f"authorization={case} {token}",
            "bare": f"with {case} {token}"}[form]
    return text, values


def url_with_password(rng: random.Random) -> tuple[str, list[str]]:
    """A URL whose user part has a password (docs: ``https://user:<SECRET>@host``): RFC
    3986's userinfo, whose password may hold unreserved characters, sub-delims, ':' and
    percent escapes but no '@' or '/'."""
    scheme = rng.choice(["https", "postgres", "postgresql", "mysql", "redis", "amqp",
                         "mongodb+srv"])
    user = _random(rng, string.ascii_lowercase + string.digits + "._-", 2, 10)
    password = _random(rng, _ALNUM, 1, 1) + _random(
        rng, _ALNUM * 2 + "-._~!$&'()*+,;=:" + "%40%2F", 5, 30)
    host = rng.choice(["db.internal", "10.0.3.7", "cache-1.svc.cluster.local"])
    port = rng.choice(["", ":5432", ":6379"])
    RULES["url"] += 1
    return f"{scheme}://{user}:{password}@{host}{port}/{rng.choice(['', 'app', 'orders?ssl=1'])}", \
        [password]


def aws_key(rng: random.Random) -> tuple[str, list[str]]:
    """An AWS access key id (``AKIA...``), alone or as a value of a key not naming one."""
    key = rng.choice(AWS_PREFIXES) + _random(rng, string.ascii_uppercase + "234567", 16, 16)
    RULES["aws"] += 1
    return rng.choice([f"using {key}", f"AccessKeyId={key}", f'"aws_id": "{key}"']), [key]


def jwt_alone(rng: random.Random) -> tuple[str, list[str]]:
    token = jwt(rng)
    RULES["jwt"] += 1
    return rng.choice([f"session {token} expired", f"jwt={token}", f"cookie: sid={token};"]), \
        [token]


def pass_value(rng: random.Random) -> tuple[str, list[str]]:
    """docs: ``pass`` names a password as a whole key or a key's last word (``pass=``,
    ``DB_PASS:``, ``"pass": "..."``) with a value that is no count or flag."""
    value = rng.choice(string.ascii_letters) + _random(rng, _ALNUM + "!#$%*+-./@^_~", 5, 30)
    key = rng.choice(["pass", "PASS", "db_pass", "DB_PASS", "smtp.pass", "redis-pass"])
    form = rng.choice(["eq", "colon", "json"])
    if form == "colon" and key.lower() == "pass":
        form = "eq"  # docs: "PASS: tests/x" is a runner's status
    RULES[f"pass.{form}"] += 1
    return {"eq": f"{key}={value}", "colon": f"{key}: {value}",
            "json": f'{{"{key}": "{value}", "attempt": 2}}'}[form], [value]


def auth_header(rng: random.Random) -> tuple[str, list[str]]:
    """docs: an ``Authorization``/``Proxy-Authorization`` header's credentials whatever the
    scheme and length (``Token``, a short ``Bearer abc``, a lone API key), a ``Digest``
    header's ``response``, and an ``X-API-Key`` header's value."""
    name = rng.choice(["Authorization", "authorization", "Proxy-Authorization",
                       "proxy-authorization"])
    form = rng.choice(["token", "short", "lone", "digest", "x-api-key"])
    RULES[f"header.{form}"] += 1
    if form == "digest":
        response = _random(rng, "0123456789abcdef", 32, 32)
        # RFC 7616's quoted-string: a quote or a backslash in it escaped (an OTLP kvlist
        # body's JSON escapes it again: username=\\"a\\\\\\"b\\")
        user = "bob"
        if rng.random() < 0.3:
            RULES["header.digest.escaped"] += 1
            user = _random(rng, _ALNUM, 1, 6) + rng.choice(['\\"', "\\\\"]) + _random(rng, _ALNUM, 0, 6)
        return ((f'{name}: Digest username="{user}", realm="api", nonce="{_random(rng, _ALNUM, 16, 16)}"'
                f', uri="/orders", response="{response}"'), [response])
    if form == "x-api-key":
        value = _random(rng, _ALNUM, 6, 40)
        return rng.choice([f"X-API-Key: {value}", f'"x-api-key": "{value}"']), [value]
    if form == "lone":
        # a digit first (no word); "sk_live_wi..." had a run of "consecutive_windows"
        value = rng.choice(string.digits) + _random(rng, _ALNUM, 6, 30)
        return f"{name}: {value}", [value]
    scheme = rng.choice(["Token", "Bearer", "Basic", "Negotiate", "token"])
    # a short one of 6-7 characters (a shorter one is found by chance in any text)
    value = _random(rng, _ALNUM, 1, 1) + (_random(rng, _ALNUM + "-._~+/", 5, 6) if form == "short"
                                          else _random(rng, _ALNUM + "-._~+/", 7, 40))
    written = rng.choice([f"{name}: {scheme} {value}", f'{{"{name}": "{scheme} {value}"}}',
                          f"-H '{name}: {scheme} {value}'"])
    return written, [value]


def cookie(rng: random.Random) -> tuple[str, list[str]]:
    """docs: every cookie's value in a ``Cookie`` or ``Set-Cookie`` header (its pairs
    separated by ``;``), not ``Set-Cookie``'s attributes."""
    names = rng.sample(["session", "sid", "JSESSIONID", "connect.sid", "_app_session",
                        "theme", "lang", "PHPSESSID"], rng.randint(1, 3))
    values = [_random(rng, _ALNUM, 1, 1) + _random(rng, _ALNUM + "%-._~+/=", 5, 40)
              for _ in names]
    pairs = "; ".join(f"{n}={v}" for n, v in zip(names, values))
    form = rng.choice(["cookie", "set-cookie", "json"])
    RULES[f"cookie.{form}"] += 1
    if form == "set-cookie":
        return f"Set-Cookie: {pairs}; Path=/; HttpOnly; Max-Age=3600", values
    if form == "json":
        return f'{{"cookie": "{pairs}"}}', values
    return f"Cookie: {pairs}", values


def pem_lines(rng: random.Random) -> tuple[list[str], list[str]]:
    """A PEM private key's lines (RFC 7468: 64 base64 characters a line)."""
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""])
    body = base64.b64encode(rng.randbytes(rng.randint(100, 400))).decode()
    rows = [body[i:i + 64] for i in range(0, len(body), 64)]
    RULES[f"pem.{kind.strip() or 'plain'}"] += 1
    return ([f"-----BEGIN {kind}PRIVATE KEY-----", *rows, f"-----END {kind}PRIVATE KEY-----"],
            rows)


def pem_one_line(rng: random.Random) -> tuple[str, list[str]]:
    """docs: a PEM private key's body, in one line (its line breaks as spaces or JSON's
    \\n escapes, as a flattened log holds it)."""
    lines, rows = pem_lines(rng)
    sep = rng.choice([" ", "\\n"])
    RULES["pem.one_line"] += 1
    return "key " + sep.join(lines), rows


def pem_events(rng: random.Random) -> tuple[list[str], list[str]]:
    """A PEM private key sent a line an event (a Kafka record, a log line each), and the body
    lines the docs promise go out as ``<SECRET>``: "a line that is nothing but base64 ..., of
    16 characters or more with an upper-case letter, a lower-case letter and a digit" (a
    shorter or one-case last line of a body stays, as documented)."""
    lines, rows = pem_lines(rng)
    RULES["pem.events"] += 1
    promised = [r for r in rows if len(r.rstrip("=")) >= 16 and any(c.isupper() for c in r)
                and any(c.islower() for c in r) and any(c.isdigit() for c in r)]
    return lines, promised


def credential_stamp(rng: random.Random) -> tuple[str, str]:
    """A time field holding ``key=value`` (no space: a regex's ``\\S+`` time reads it), and
    the value (docs: a ``bad_timestamp``'s detail has its credentials as ``<SECRET>``)."""
    value = _random(rng, _ALNUM, 8, 24)
    return f"{_key(rng)}={value}", value


def url_encoded(rng: random.Random) -> tuple[str, list[str]]:
    """docs: a URL-encoded pair (``password%3Dhunter2``, a query string inside a query
    string) and a query string's ``password=...&``."""
    key = _key(rng)
    value = _random(rng, _ALNUM, 1, 1) + _random(rng, _ALNUM + "-._~", 5, 30)
    RULES["urlencoded"] += 1
    return rng.choice([f"GET /login?next=%2Fhome%3F{key}%3D{value}%26lang%3Den",
                       f"POST /login?user=bob&{key}={value}&remember=1"]), [value]


FORMS = (key_value, key_value, key_value, authorization, url_with_password, jwt_alone,
         aws_key, pass_value, auth_header, cookie, pem_one_line, url_encoded)


def line(rng: random.Random, trace: bool = True) -> Line:
    """A realistic line: filler words, 0-3 credentials and 0-2 non-secrets at random places,
    sometimes a continuation line (a trace) holding another credential."""
    parts = [rng.choice(FILLER)]
    secrets: list[str] = []
    kept: list[str] = []
    n = rng.choice([0, 1, 1, 2, 3])
    RULES[f"credentials.{n}"] += 1
    for _ in range(n):
        text, values = rng.choice(FORMS)(rng)
        parts.insert(rng.randint(0, len(parts)), text)
        secrets += values
    for _ in range(rng.randint(0, 2)):
        ns = rng.choice(NON_SECRETS)
        parts.insert(rng.randint(0, len(parts)), ns)
        kept.append(ns)
    # adjacent punctuation between the pieces: a space always, sometimes more
    joined = parts[0]
    for prev, p in itertools.pairwise(parts):
        # docs: a Cookie header's pairs run on after a ';'
        joined += (" | " if prev.endswith(";") else
                   rng.choice([" ", " ", " | ", " (", ") ", " - ", "\t"])) + p
    continuation = ""
    if trace and rng.random() < 0.05:  # docs: a PEM key across continuation lines
        lines, rows = pem_lines(rng)
        joined += " loaded key " + lines[0]
        continuation = "\n".join("    " + x for x in lines[1:])
        secrets += rows
        RULES["pem.continuation"] += 1
    elif trace and rng.random() < 0.2:
        text, values = rng.choice(FORMS)(rng)
        continuation = f"    at Db.connect({text})"
        secrets += values
        RULES["continuation"] += 1
    return Line(joined, continuation, tuple(secrets), tuple(kept))


# ------------------------------------------------------------------ the check


def strings(obj: Any) -> list[str]:
    """Every string in ``obj`` (dicts' keys and values, lists, tuples), decoded bytes too."""
    out: list[str] = []
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, bytes):
            out.append(x.decode("utf-8", "replace"))
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
    return out


PIECE = 6  # a run of this many characters of a credential may not come out
PIECE_DIGITS = 8  # nor this many digits (shorter runs of digits are everywhere)


def pieces(value: str) -> set[str]:
    """The runs of a credential value that may not come out: each of its ``PIECE``
    characters (``PIECE_DIGITS`` where they are all digits), spaces aside (a run with
    spaces is found by its words), or the whole value where shorter."""
    out = set()
    if len(value) <= PIECE:
        return {value}
    for i in range(len(value) - PIECE + 1):
        run = value[i:i + PIECE]
        if " " in run:
            continue
        if run.isdigit():
            run = value[i:i + PIECE_DIGITS]
            if len(run) < PIECE_DIGITS or not run.isdigit():
                continue
        out.add(run)
    return out


class Leaks:
    """Where credential values came out: ``seen(where, texts)`` for each output, then
    ``found`` lists (where, value, the text it came out in)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in dict.fromkeys(secrets) if s]
        # a run a kept non-secret holds too is no leak when it comes out (seed 647: a
        # token's "4bf92f", which the kept trace_id=4bf92f35... also holds)
        kept = {t[i:i + n] for t in NON_SECRETS for n in (PIECE, PIECE_DIGITS)
                for i in range(max(len(t) - n + 1, 0))}
        self._pieces = {s: pieces(s) - kept for s in self.secrets}
        self.found: list[tuple[str, str, str]] = []

    def seen(self, where: str, texts: list[str]) -> None:
        for text in texts:
            runs = {text[i:i + n] for n in (PIECE, PIECE_DIGITS)
                    for i in range(max(len(text) - n + 1, 0))} if len(text) > PIECE else {text}
            for s in self.secrets:
                if s in text or (len(s) > PIECE and runs & self._pieces[s]) or (
                        len(s) <= PIECE and s in text):
                    self.found.append((where, s, text))

    def message(self) -> str:
        where, value, text = self.found[0]
        return (f"{len(self.found)} credential value(s) came out; the first in {where}: "
                f"{value[:80]!r} in {text[:300]!r}")

"""Credentials in log text, replaced by ``<SECRET>`` wherever a line's text goes out: the
templates mined from it (and so a bundle's miner state), an alert's templates and example
lines, ``score``'s ``templates`` column, and the quoted line of a bad line's error (a dead
letter's ``detail`` header, ``serve``'s log, ``score``'s notes). Pure; docs/logs.md lists
the forms.

>>> redact_secrets('{"password": "correct horse, battery", "user": "bob"}')
'{"password": "<SECRET>", "user": "bob"}'
"""

from __future__ import annotations

import re

__all__ = ["redact_secrets"]

SECRET = "<SECRET>"

# The value of a key naming a credential (password=, "api_key": "...", client_secret: ...).
# A key is read whole and then asked whether it names one, which keeps the search linear (a
# keyword pattern inside the key regex backtracked: 44 ms for an example line of 'token' x
# 400). A quoted value runs to its closing quote (or the end of the line), whatever it holds:
# until 2026-12-07 every value ended at a space, a comma, a semicolon or '&', so the rest of
# a passphrase ("correct horse battery") or of a JSON string holding one of them, or after
# an escaped quote (\"), went out as logged. A JSON object inside a JSON string (\"key\":
# \"value\") has its quotes escaped (and a quote inside the value is \\\"). An unquoted value
# ends at a space, a quote, the separator of the next pair (&,;) or, inside a JSON string (a
# kvlist body), an escaped space, line break or quote (\t, \n, \r, \").
_KEY = re.compile(r"(?<![\w.-])(?P<key>[\w.-]+)(?P<sep>\\?[\"']?\s*[:=]\s*)")
_VALUE = re.compile(
    r"(?:\\\"(?P<escaped>(?:[^\\\n]|\\\\\\\"|\\\\|\\[^\"\\\n])+)"
    r"|\"(?P<double>(?:[^\"\\\n]|\\[^\n])+)"
    r"|'(?P<single>(?:[^'\\\n]|\\[^\n])+)"
    r"|(?P<bare>(?:[^\s\"'&,;\\]|\\(?![ntr\"]))+))")
_VALUES = ("escaped", "double", "single", "bare")
_SECRET_KEY = re.compile(r"passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|"
                         r"private[_-]?key|credential", re.IGNORECASE)
# A count of tokens (max_tokens=512, prompt_tokens: 523: an LLM service's usage lines), not
# one: a key ending in "tokens" whose value is a plain number (closing punctuation after it
# is the sentence's: "(max_tokens=512)")
_TOKEN_COUNT = re.compile(r"tokens$", re.IGNORECASE)
_COUNT = re.compile(r"\d+[)\]}.:]*")
# An Authorization scheme's token. Basic's is base64 (dXNlcjpwYXNz): a plain word after
# "basic" is prose ("falling back to basic authentication"), which until 2026-12-07 went
# out as "basic <SECRET>".
_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<space>\s+)(?P<token>[\w.~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_URL_PASSWORD = re.compile(r"(?P<user>://[^\s:/@]+:)[^\s/@]+@")
# An AWS access key id (AKIA... long-term, ASIA... temporary): 20 characters, by itself
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
# The note cut_text appends to a text cut at 2,000 characters: kept, not taken for the rest
# of a quoted value that the cut left open
_CUT = re.compile(r" \[cut at \d+ characters\]\Z")


def _redact_values(text: str) -> str:
    """``text`` with the value of each key naming a credential as ``<SECRET>``. The search
    goes on after the separator of a key naming none: its quoted value may hold pairs of its
    own (a kvlist body's ``{"msg": "... password=x"}``). A value is read only after a key
    naming a credential: read after every key, ``a:a:a:...`` read the rest of the line at
    each of its keys (20,000 characters: 4 s, where a line may have 64 KiB)."""
    out: list[str] = []
    done = pos = 0
    while (k := _KEY.search(text, pos)) is not None:
        pos = k.end()
        if _SECRET_KEY.search(k["key"]) is None:
            continue
        m = _VALUE.match(text, pos)
        if m is None:
            continue
        group = next(g for g in _VALUES if m[g] is not None)
        if _TOKEN_COUNT.search(k["key"]) and _COUNT.fullmatch(m[group]):
            continue
        start, end = m.span(group)
        out += (text[done:start], SECRET)
        done = pos = end
    return "".join(out) + text[done:] if out else text


def _redact_token(m: re.Match[str]) -> str:
    token = m["token"]
    if m["scheme"].lower() == "basic" and token.isalpha() and token[1:].islower():
        return m[0]
    return m["scheme"] + m["space"] + SECRET


def redact_secrets(text: str) -> str:
    """``text`` with credentials replaced by ``<SECRET>``: the value of a key naming one, an
    Authorization scheme's token, a JWT, a URL's password and an AWS access key id (emails,
    IPs and ids stay, to be read).

    >>> redact_secrets("login failed for bob password=hunter2 from 10.0.0.7")
    'login failed for bob password=<SECRET> from 10.0.0.7'
    >>> redact_secrets('{"api_key": "sk_live_51HxQ2a", "user": "bob"}')
    '{"api_key": "<SECRET>", "user": "bob"}'
    >>> redact_secrets("Authorization: Bearer abcdef0123456789 at https://u:pw@db.local/x")
    'Authorization: Bearer <SECRET> at https://u:<SECRET>@db.local/x'
    >>> redact_secrets("usage prompt_tokens=523 (max_tokens=512) tokens=ab12cd token=123456")
    'usage prompt_tokens=523 (max_tokens=512) tokens=<SECRET> token=<SECRET>'
    >>> redact_secrets("basic authentication for AKIAIOSFODNN7EXAMPLE: Basic dXNlcjpwYXNz")
    'basic authentication for <SECRET>: Basic <SECRET>'
    """
    cut = _CUT.search(text) if text.endswith(" characters]") else None
    if cut is not None:
        return redact_secrets(text[: cut.start()]) + cut[0]
    # Each rule runs only on a text holding what it needs: most lines hold none of it, and
    # every line a logs model reads is redacted before it is masked (every rule on every line
    # doubled the cost of masking a line, 3.5 us to 7.4 us; now about 5 us).
    low = text.lower()
    if "bearer" in low or "basic" in low:
        # the scheme's token first: x-auth-token: Bearer abc... is a key's value too
        text = _SCHEME.sub(_redact_token, text)
    if (":" in text or "=" in text) and _SECRET_KEY.search(text) is not None:
        text = _redact_values(text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\g<user><SECRET>@", text)
    if "eyJ" in text:
        text = _JWT.sub(SECRET, text)
    if "IA" in text:
        text = _AWS_KEY_ID.sub(SECRET, text)
    return text

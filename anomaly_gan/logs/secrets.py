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

__all__ = ["REDACT_CHARS", "quote_redacted", "redact_head", "redact_secrets"]

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
# A URL-encoded pair (password%3Dhunter2%26lang%3Den: a query string inside a query string,
# a logged form body) has its value end at an encoded separator or space (%26 %3B %2C %20).
_KEY = re.compile(r"(?<![\w.-])(?P<key>[\w.-]+)(?P<sep>\\?[\"']?\s*[:=]\s*|%3[dD])")
_ENCODED_VALUE = re.compile(r"(?:[^\s\"'&,;\\%]|%(?!26|3[bB]|2[cC]|20)[0-9A-Fa-f]{2})+")
_VALUE = re.compile(
    r"(?:\\\"(?P<escaped>(?:[^\\\n]|\\\\\\\"|\\\\|\\[^\"\\\n])+)"
    r"|\"(?P<double>(?:[^\"\\\n]|\\[^\n])+)"
    r"|'(?P<single>(?:[^'\\\n]|\\[^\n])+)"
    r"|(?P<bare>(?:[^\s\"'&,;\\]|\\(?![ntr\"]))+))")
_VALUES = ("escaped", "double", "single", "bare")
_SECRET_KEY = re.compile(r"pass(?:w(?:or)?d|phrase)|pwd|secret|token|api[_-]?key|"
                         r"access[_-]?key|private[_-]?key|credential", re.IGNORECASE)
# "pass" names a password as a whole key or a key's last word (pass=, DB_PASS:, "pass": ...)
# with a value that is no count or flag: a test runner's "pass=12 fail=0", "pass=true" and
# "PASS: tests/test_x.py" (a bare key with an unquoted ':' is a runner's status) stay
_PASS_KEY = re.compile(r"(?:[\w.-]*[_.-])?pass", re.IGNORECASE)
_PASS_COUNT = re.compile(r"(?:[\d.,%]+|true|false|yes|no|ok)[)\]}.:]*", re.IGNORECASE)
# A count of tokens (max_tokens=512, prompt_tokens: 523: an LLM service's usage lines), not
# one: a key ending in "tokens" whose value is a plain number (closing punctuation after it
# is the sentence's: "(max_tokens=512)")
_TOKEN_COUNT = re.compile(r"tokens$", re.IGNORECASE)
_COUNT = re.compile(r"\d+[)\]}.:]*")
# An Authorization scheme's token. Basic's is base64 (dXNlcjpwYXNz): a plain word after
# "basic" is prose ("falling back to basic authentication"), which until 2026-12-07 went
# out as "basic <SECRET>".
_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<space>\s+)(?P<token>[\w.~+/=-]{8,})")
# An Authorization (Proxy-Authorization) header's credentials, whatever their scheme (Token,
# Negotiate, AWS4-HMAC-SHA256 ...) and length (Bearer abc): the word after the scheme, or a
# lone value (Authorization: sk_live_...) that is no plain word ("authorization: denied").
# Outside the header a Bearer/Basic token needs 8 characters: "bearer token expired" is prose.
# A header name after a JSON string's escaped tab or line break (\\tauthorization:) is one too.
_AUTH_HEADER = re.compile(
    r"(?i)(?:(?<![\w-])|(?<=\\[tnr]))(?:proxy-)?authorization\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?"
    r"(?P<first>[^\s\"'\\,;]+)(?:[ \t]+(?P<token>[^\s\"'\\,;:]+))?")
_SCHEMES = frozenset({"basic", "bearer", "token", "negotiate", "ntlm", "oauth", "apikey",
                      "key", "dpop", "sharedkey", "ssws", "jwt", "hoba", "mutual",
                      "aws4-hmac-sha256"})
# A Digest header's parameters (RFC 7616: after the scheme, separated by commas), a value
# quoted (\"...\" in a JSON string) or a token: its response is a hash of the password, to
# be brute-forced offline; the username, realm, nonce and uri stay. Until 2026-12-07 a
# response= of 16 hex digits was redacted anywhere a line held "authorization" and
# "digest": prose ("cache response=4bf92f... authorization ok, digest verified") too.
# A quoted value holds backslash escapes (username="a\"b"; in a JSON string
# username=\"a\\\"b\", an escaped backslash \\\\): until 2026-12-07 one ended the scan, and
# the response after it went out as logged. A quoted value runs to its closing quote or,
# where that is not in the text (one cut), to its end (in a JSON string, to the string's).
_DIGEST_PARAM = re.compile(
    r'(?s)(?P<sep>[ \t]*,[ \t]*|[ \t]+)(?P<name>[\w-]+)[ \t]*=[ \t]*'
    r'(?:\\"(?P<escaped>(?:[^"\\]|\\[^"\\]|\\\\(?:[^"\\]|\\.))*)(?:\\")?'
    r'|"(?P<quoted>(?:[^"\\]|\\.)*)"?|(?P<bare>[^\s,"\'\\]+))')
_DIGEST_VALUES = ("escaped", "quoted", "bare")
# A Cookie or Set-Cookie header: each cookie's value (a session's, and others as such names
# vary: sid, JSESSIONID, connect.sid, _app_session), not Set-Cookie's attributes (Path=/)
_COOKIE_HEADER = re.compile(r"(?i)(?:(?<![\w-])|(?<=\\[tnr]))(?:set-)?cookie\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?")
_COOKIE = re.compile(r"[ \t]*(?P<name>[^=;,\s\"'\\]+)(?:=(?P<value>[^;\s\"'\\]*))?[ \t]*;?")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "secure",
                                "httponly", "priority", "partitioned", "version", "comment"})
# A PEM private key's body (-----BEGIN RSA PRIVATE KEY----- ... -----END ...-----), across
# line breaks and \n escapes, to the end of the text where the END line is not in it (a
# text cut at 2,000 characters); a certificate (public) stays
_PEM = re.compile(r"(?P<begin>-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----)"
                  r"[\s\S]*?(?P<end>-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\Z)")
# A line that is nothing but base64 (spaces, a quote around it and '=' padding aside), of 16
# characters or more with an upper-case letter, a lower-case letter and a digit: a PEM key's
# body line sent as an event of its own (a Kafka record or a log line each), with no BEGIN
# line before it in its text (until 2026-12-07 it went out as logged, in a no_match detail
# and a template). Hex ids and digests (one case), words and paths (no digit, a '.' or '-')
# stay; a shorter last line of a body does too.
_BASE64_LINE = re.compile(r"(?m)^(?P<head>[ \t]*(?P<q>['\"]?))(?P<body>[A-Za-z0-9+/]{16,}={0,2})"
                          r"(?=(?P=q)[ \t\r]*$)")
_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
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
        key, sep = k["key"], k["sep"]
        pass_key = _SECRET_KEY.search(key) is None  # none named: only "pass" may count
        if pass_key:
            if k.start() and text[k.start() - 1] == "\\" and key[0] in "tnr":
                key = key[1:]  # after a JSON string's escaped tab or line break: \tpass=
            if _PASS_KEY.fullmatch(key) is None or (len(key) == 4 and sep.lstrip()[:1] == ":"):
                continue
        if sep[:1] == "%":
            m = _ENCODED_VALUE.match(text, pos)
            if m is None:
                continue
            start, end = m.span()
        else:
            m = _VALUE.match(text, pos)
            if m is None:
                continue
            group = next(g for g in _VALUES if m[g] is not None)
            if (_TOKEN_COUNT.search(key) and _COUNT.fullmatch(m[group])) or (
                    pass_key and _PASS_COUNT.fullmatch(m[group])):
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


def _redact_base64_line(m: re.Match[str]) -> str:
    body = m["body"]
    if _UPPER.search(body) and _LOWER.search(body) and _DIGIT.search(body):
        return m["head"] + SECRET
    return m[0]


def _word(text: str) -> bool:
    return text.isalpha() and text[1:].islower()


def _redact_headers(text: str) -> str:
    """``text`` with each Authorization header's credentials as ``<SECRET>``: the word
    after a scheme, or a lone value; the search goes on after what it read (a word after a
    lone value may be the next header's name: ``authorization: x\\tproxy-authorization:``)."""
    out: list[str] = []
    done = pos = 0
    while (m := _AUTH_HEADER.search(text, pos)) is not None:
        first, token = m["first"], m["token"]
        scheme = first.lower()
        pos = m.end("first")
        if scheme == "digest":
            out.append(text[done:pos])
            done = pos = _redact_digest(text, pos, out)
            continue
        if token is not None and (scheme in _SCHEMES or (_word(first) and not _word(token))):
            out += (text[done:m.start("token")], SECRET)  # Token <SECRET>, Custom <SECRET>
            done = pos = m.end("token")
        elif scheme not in _SCHEMES and not _word(first):
            out += (text[done:m.start("first")], SECRET)  # a lone value: sk_live_...
            done = pos
        # else words ("authorization: denied for bob") or a scheme alone
    return "".join(out) + text[done:] if out else text


def _redact_digest(text: str, pos: int, out: list[str]) -> int:
    """Appends to ``out`` a Digest header's parameters from ``pos`` (after the scheme), the
    response's value as ``<SECRET>``; returns where they end. The first is after a space,
    the rest after a comma: a pair after a space (``response=200 in 12 ms``) is the line's."""
    done = pos
    while (p := _DIGEST_PARAM.match(text, pos)) is not None and (
            pos == done or "," in p["sep"]):
        if p["name"].lower() == "response":
            group = next(g for g in _DIGEST_VALUES if p[g] is not None)
            out += (text[done:p.start(group)], SECRET)
            done = p.end(group)
        pos = p.end()
    out.append(text[done:pos])
    return pos


def _redact_cookies(text: str) -> str:
    out: list[str] = []
    done = pos = 0
    while (h := _COOKIE_HEADER.search(text, pos)) is not None:
        pos = h.end()
        while (c := _COOKIE.match(text, pos)) is not None and c.end() > pos:
            pos = c.end()
            if c["value"] and c["name"].lower() not in _COOKIE_ATTRIBUTES:
                out += (text[done:c.start("value")], SECRET)
                done = c.end("value")
            if not c[0].endswith(";"):
                break
    return "".join(out) + text[done:] if out else text


def redact_secrets(text: str) -> str:
    """``text`` with credentials replaced by ``<SECRET>``: the value of a key naming one
    (URL-encoded too; ``pass=`` unless a count), a Bearer/Basic token, an Authorization
    header's credentials, a Digest response, a Cookie header's values, a PEM private key's
    body, a line of base64 alone (a key's body line as an event of its own), a JWT, a URL's
    password and an AWS access key id (emails, IPs and ids stay, to be read).

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
    >>> redact_secrets("Authorization: Token abc Cookie: sid=x1; theme=dark pass=12 pass=hunter2")
    'Authorization: Token <SECRET> Cookie: sid=<SECRET>; theme=<SECRET> pass=12 pass=<SECRET>'
    """
    cut = _CUT.search(text) if text.endswith(" characters]") else None
    if cut is not None:
        return redact_secrets(text[: cut.start()]) + cut[0]
    # Each rule runs only on a text holding what it needs: most lines hold none of it, and
    # every line a logs model reads is redacted before it is masked (every rule on every line
    # doubled the cost of masking a line, 3.5 us to 7.4 us; now about 5 us).
    low = text.lower()
    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(rf"\g<begin>{SECRET}\g<end>", text)
    if "://" in text:
        # before the pairs: a password holding '=' (a:b=c@host) read as a pair whose key
        # names a credential lost its '@', and the rest of the password went out as logged
        text = _URL_PASSWORD.sub(r"\g<user><SECRET>@", text)
    if "authorization" in low:
        text = _redact_headers(text)
    if "cookie" in low:
        text = _redact_cookies(text)
    if "bearer" in low or "basic" in low:
        # the scheme's token first: x-auth-token: Bearer abc... is a key's value too
        text = _SCHEME.sub(_redact_token, text)
    if (":" in text or "=" in text or "%3" in text) and (
            "pass" in low or _SECRET_KEY.search(text) is not None):
        text = _redact_values(text)
    if "\n" in text or " " not in text.strip():  # a line with a space inside is no base64
        text = _BASE64_LINE.sub(_redact_base64_line, text)
    if "eyJ" in text:
        text = _JWT.sub(SECRET, text)
    if "IA" in text:
        text = _AWS_KEY_ID.sub(SECRET, text)
    return text


#: The characters of a text that :func:`redact_head` reads (a refused field or a bad line may
#: hold 64 KiB: each is quoted by its head, at a bounded cost).
REDACT_CHARS = 4096
_SPACES = " \t\n\r\f\v"


def redact_head(text: str, chars: int) -> tuple[str, bool]:
    """The first ``chars`` characters of ``text`` with its credentials as ``<SECRET>``,
    and whether that is all of it. Only its first :data:`REDACT_CHARS` characters are read;
    where it has more, their last word goes too, whatever it is: the cut may have run
    through a credential, which is one no longer (a URL's password before its '@', a token
    cut under 8 characters, a value cut to a count or a word). Until 2026-12-07 its first
    part went out where a long credential before it had shrunk to ``<SECRET>``. Each rule
    that a cut keeps from matching reads a credential without whitespace; a quoted value,
    which may hold some, runs to the end of a text that holds no closing quote.

    >>> redact_head("token=" + "x" * 4070 + " https://bob:hunter2@db", 80)
    ('token=<SECRET> ', False)
    """
    head = redact_secrets(text[:REDACT_CHARS])
    if len(text) <= REDACT_CHARS:
        return head[:chars], len(head) <= chars
    return head[: max(map(head.rfind, _SPACES)) + 1][:chars], False


def quote_redacted(value: object, width: int) -> str:
    """``repr(value)`` cut at ``width`` characters, its credentials as ``<SECRET>`` before
    the cut (one cut in two is no longer one): a refused field quoted in an error. A
    string's text is redacted, then quoted, and the quote redacted too (a value quoted over a
    line break is one in the quote); where the text was cut, ``...`` ends it where there is
    room.

    >>> quote_redacted("token=hunter2 at 12:00", 20)
    "'token=<SECRET> at 1"
    >>> quote_redacted("token=" + "x" * 4070 + " https://bob:hunter2@db", 80)
    "'token=<SECRET> ..."
    """
    if type(value) is not str:
        text, whole = redact_head(repr(value), width)
        return text if whole else (text + "...")[:width]
    head, whole = redact_head(value, width)
    quoted = repr(head)
    return redact_secrets(quoted)[:width] if whole else (
        redact_secrets(quoted[:-1]) + "...")[:width]

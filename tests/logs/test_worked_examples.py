"""docs/logs.md, "Worked examples of common formats": each config reads the lines it shows.

An operator copies the config of the format their service writes (containerd's CRI lines,
Docker json-file, RFC 3164 and 5424 syslog, Logback, Spring Boot, zap, logrus, structlog,
Serilog) and trains on their files: a regex that misses a padded level or a syslog day's
space stops ``train`` at the first line, and one that skips a syslog <PRI> reads no level.
"""

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs.offline import read_log_file

DOC = Path(__file__).resolve().parents[2] / "docs/logs.md"
# the examples' lines are of 2026-12-05 10:00 in their own zone; the files are written then
WRITTEN = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()
# syslog's severities, 0 to 7 (RFC 5424 6.2.1), as its keywords: a <PRI>'s level
SEVERITIES = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")


def _examples() -> list[tuple[str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("### Worked examples of common formats")
    section = text[start:text.index("\n## ", start)]
    out = []
    for m in re.finditer(r"```yaml\n(.*?)```\s*```text\n(.*?)```", section, re.DOTALL):
        # named by the bold title before it, or the comment on its format or json_fields
        title = re.findall(r"\*\*([^*]+)\*\*", section[:m.start()])[-1]
        own = re.search(r"(?:format|json_fields): .*#\s*(\S+)", m.group(1))
        out.append((own.group(1) if own else title, m.group(1), m.group(2)))
    return out


EXAMPLES = _examples()


def test_the_section_has_its_examples():
    assert len(EXAMPLES) >= 10, [name for name, _, _ in EXAMPLES]


@pytest.mark.parametrize("config, lines", [(y, t) for _, y, t in EXAMPLES],
                         ids=[f"{i}-{name[:30]}" for i, (name, _, _) in enumerate(EXAMPLES)])
def test_each_worked_example_reads_every_line_it_shows(tmp_path, config, lines):
    cfg = config_from_dict(yaml.safe_load(config)).logs
    path = tmp_path / "app.log"
    path.write_text(lines, encoding="utf-8")
    os.utime(path, (WRITTEN, WRITTEN))
    events = read_log_file(path, cfg)  # logs.bad_lines: error, the default: no line refused
    # every line is an event or a continuation line of one
    assert sum(1 + len(e.continuation.splitlines()) for e in events) == len(lines.splitlines())
    for e in events:
        assert e.entity and e.message and "\n" not in e.message
        assert e.message in lines and e.message not in lines.splitlines()  # header taken off
        day = datetime.fromtimestamp(e.ts, UTC)
        assert (day.year, day.month, day.day) == (2026, 12, 5) and 8 <= day.hour <= 10, e
    levels = [e.level.upper() in cfg.error_levels for e in events]
    if any(e.level for e in events):  # where a level is read, the second line is the error
        assert levels[:2] == [False, True], [e.level for e in events]
    if "(?P<pri>" in config:  # each line's level is its <PRI>'s severity (PRI mod 8)
        pris = [int(m.group(1)) for m in re.finditer(r"^<(\d+)>", lines, re.MULTILINE)]
        assert [e.level for e in events] == [SEVERITIES[p % 8] for p in pris] and pris


def test_the_syslog_examples_that_carry_a_pri_read_it():
    """RFC 5424 lines and RFC 3164 lines as sent start with <PRI>: a regex that skips it
    reads no level, and the error share of a syslog source stayed 0."""
    with_pri = [(name, config) for name, config, lines in EXAMPLES
                if "Syslog" in name and re.search(r"^<\d+>", lines, re.MULTILINE)]
    assert len(with_pri) == 2 and all("(?P<pri>" in config for _, config in with_pri), with_pri


REGEX_EXAMPLES = [(name, config, lines) for name, config, lines in EXAMPLES
                  if "format: regex" in config]


@pytest.mark.timeout(60)  # a guard against the hang, not a speed bound: each takes under 1 s
@pytest.mark.parametrize("config, lines", [(y, t) for _, y, t in REGEX_EXAMPLES],
                         ids=[f"{i}-{name[:30]}" for i, (name, _, _) in enumerate(REGEX_EXAMPLES)])
def test_each_worked_regex_refuses_a_long_hostile_line_in_linear_time(config, lines):
    """serve matches logs.regex on its scoring loop against lines of up to
    serve.windows.max_event_bytes. The Spring Boot example's ``\\[ *(?P<thread>[^\\]]*)\\]``
    tried every split of a run of spaces after the ``[``, time growing with the square of
    the line's length: a 64 KiB line of them took 14 s, holding every entity's scoring, and
    the 256 KiB line here minutes. Each example's first line cut after any space, bracket
    or colon and padded to 256 KiB with one character is read in time (linear: under 1 s), as
    an event or an invalid line."""
    from anomaly_gan.logs.events import LogEvent, parser_from_config
    from anomaly_gan.stream.events import InvalidEvent

    max_bytes = 1 << 18  # serve.windows.max_event_bytes may be set so
    parser = parser_from_config(config_from_dict(yaml.safe_load(config)).logs, max_bytes)
    first = lines.splitlines()[0]
    cuts = [i + 1 for i, c in enumerate(first) if c in " []<>:"]
    assert cuts
    for cut in cuts:
        for pad in " [a":
            line = (first[:cut] + pad * max_bytes)[:max_bytes]
            got = parser.parse(line)
            assert type(got) is LogEvent or (type(got) is InvalidEvent
                                             and got.reason in ("no_match", "bad_timestamp"))

"""Seeded mutation fuzz of config loading: hostile edits of every shipped config.

Each seed starts from one of ``configs/*.yaml`` or an empty config, applies 1-3 random
mutations (a value of another type: strings, unicode, huge or non-finite numbers, lists,
maps, null; a key deleted, added at any depth or renamed by a typo; a section where a value
is expected and the reverse; a number just outside (or on) its documented bounds; another
allowed value, which reaches the cross-field checks; a string with junk appended) and, for
some seeds, one change to the file's text (duplicate keys, anchors and merge keys, a tab,
a non-mapping top level, a BOM, bytes that are not UTF-8, a control character, a second
document, deep nesting, an empty or cut file) or an environment override. The file is
loaded by :func:`~anomaly_gan.config.load_config`, as every subcommand loads ``--config``.

The property (README, Configuration; errors.py): the file loads into a :class:`Config`
whose values have their declared types and that validates again, cross-field checks
included, from its plain form; or it is refused with :class:`ConfigError` in one line that
starts with the file (or the environment variable) and names the key path, the line or the
byte that is wrong. Never another exception. A handful of refused mutants also go through
the real ``anomaly-gan validate-config`` and ``train``: exit 2, one stderr line, no
traceback.

``CONFIG_FUZZ_SEEDS`` (default 400, a few seconds) seeds from ``CONFIG_FUZZ_SEED_START``
(default 0): ``CONFIG_FUZZ_SEED_START=17 CONFIG_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import re
import subprocess
import sys
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from anomaly_gan.config import (
    ENV_PREFIX,
    Config,
    _key_text,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_yaml,
)
from anomaly_gan.errors import ConfigError
from tests.support.config_fuzz import BASES, ROOT, SECTIONS, env_override, mutate, text_mutation
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("CONFIG_FUZZ_SEEDS", "400"))
SEED_START = int(os.environ.get("CONFIG_FUZZ_SEED_START", "0"))
@dataclass
class Case:
    seed: int
    base: str
    data: bytes
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    base = rng.choice(sorted(BASES))
    doc = copy.deepcopy(BASES[base])
    notes: list[str] = []
    for _ in range(rng.randint(1, 3)):
        mutate(rng, doc, notes)
    text = yaml.safe_dump(doc, allow_unicode=rng.random() < 0.5, sort_keys=False,
                          default_flow_style=rng.choice([False, None]))
    data = text_mutation(rng, text, notes) if rng.random() < 0.3 else text.encode()
    env = env_override(rng, notes) if rng.random() < 0.1 else {}
    return Case(seed, base, data, env, notes)


# --------------------------------------------------------------------------- the property


def conforms(tp: Any, value: Any) -> bool:
    """Whether a loaded value has the type its key declares (no string where a number is)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return type(value) is tp and all(
            conforms(t, getattr(value, n)) for n, t in typing.get_type_hints(tp).items()
            if n != "given")
    if origin in (typing.Union, types.UnionType):
        return any(conforms(a, value) for a in typing.get_args(tp))
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is tuple:
        return isinstance(value, tuple) and all(conforms(typing.get_args(tp)[0], v)
                                                for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and type(v) is float and math.isfinite(v) for k, v in value.items())
    if tp is type(None):
        return value is None
    if tp is float:
        return type(value) is float and math.isfinite(value)
    return type(value) is tp


def _top_keys(data: bytes) -> list[str]:
    """How an error would name each top-level key of the file (errors.brief for odd keys)."""
    try:
        raw = parse_yaml(data.decode("utf-8-sig"))  # as load_config read it
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return []
    return [_key_text(k) for k in raw] if isinstance(raw, dict) else []


LOCATION = re.compile(r"(line \d+ |<top level>: |cannot read config: not UTF-8 text \(byte \d+\)$)")


def check_error(case: Case, path: Path, message: str) -> None:
    where = f"seed {case.seed} ({case.base}, {case.notes}): {message!r}"
    assert "\n" not in message and "\r" not in message, f"more than one line: {where}"
    assert len(message) < 2000, f"a message of {len(message)} characters: {where}"
    env = next(iter(case.env), None)
    if env is not None and message.startswith(f"environment {env}: "):
        return  # the variable named: its key path follows (or a typo's spelling meant)
    # the variable is named once the file has parsed (its errors come before any override)
    source = f"{path} (+ {env})" if env and message.startswith(f"{path} (+") else str(path)
    assert message.startswith(f"{source}:"), f"does not name the file first: {where}"
    rest = message[len(source) + 1:].lstrip()
    if LOCATION.match(rest):
        return
    text = case.data.decode("utf-8-sig", "replace")
    keys = [*_top_keys(case.data), *(s[0] for s in SECTIONS),
            *(_key_text(k) for k in re.findall(r"^([^\s#:'\"{}\[\]-][^:\n]*):", text, re.MULTILINE))]
    if env:
        keys.append(env[len(ENV_PREFIX):].split("__")[0].lower())
    assert any(rest.startswith((f"{k}:", f"{k}.")) for k in keys), (
        f"names no key path or line: {where}")


def run_case(case: Case, path: Path) -> Config | str:
    path.write_bytes(case.data)
    try:
        cfg = load_config(path, env=case.env)
    except ConfigError as exc:
        check_error(case, path, str(exc))
        return str(exc)
    except Exception as exc:  # the bug this test is for
        raise AssertionError(
            f"seed {case.seed} ({case.base}, {case.notes}): {type(exc).__name__}: "
            f"{str(exc)[:300]}\n--- file ---\n{case.data[:1500]!r}\nenv {case.env}") from exc
    where = f"seed {case.seed} ({case.base}, {case.notes})"
    assert conforms(Config, cfg), f"a loaded value of the wrong type: {where}: {cfg}"
    again = config_from_dict(config_to_dict(cfg), "again")
    assert again == cfg, f"does not validate into itself again: {where}"
    return cfg


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_a_mutated_config_loads_or_is_refused_in_one_line_naming_the_key(tmp_path, seeds):
    each_seed(seeds, lambda seed: run_case(make_case(seed), tmp_path / f"fuzz-{seed}.yaml"))


def test_the_mutants_reach_both_outcomes_and_every_mutation(tmp_path):
    """Some mutants load and many are refused, by each kind of mutation: a fuzz whose every
    file failed to parse (or loaded) would test nothing."""
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for seed in range(400):
        case = make_case(seed)
        result = run_case(case, tmp_path / "c.yaml")
        outcomes["loaded" if isinstance(result, Config) else "refused"] += 1
        kinds.update(case.notes)
    assert outcomes["loaded"] >= 40 and outcomes["refused"] >= 120, outcomes
    for kind in ("retype", "delete", "unknown", "typo", "swap_shape", "range", "allowed",
                 "junk", "alias", "form", "env", "text:duplicate", "text:bom", "text:latin1"):
        assert kinds[kind] >= 3, (kind, kinds)


# --------------------------------------------------------------------------- the CLI


CLI_KINDS = ("text:control", "form", "typo", "range", "text:latin1", "text:tag")


def refused_mutants(kinds: tuple[str, ...]) -> list[Case]:
    """For each kind of mutation, the first refused mutant from seed 10,000 on made by it."""
    found: list[Case] = []
    seed = 10_000
    for kind in kinds:
        while True:
            case = make_case(seed)
            seed += 1
            if case.env or kind not in case.notes:
                continue
            try:
                load_config_bytes(case.data)
            except ConfigError:
                found.append(case)
                break
    return found


def load_config_bytes(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        load_config(path, env={})


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANOMALY_GAN")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "anomaly_gan", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", ["validate-config", "train"])
def test_refused_mutants_exit_2_with_one_line_through_the_cli(tmp_path, command):
    (tmp_path / "x.csv").write_text("cpu\n" + "".join(f"{i % 7}\n" for i in range(50)))
    for case in refused_mutants(CLI_KINDS[:3] if command == "train" else CLI_KINDS):
        bad = tmp_path / "bad.yaml"
        bad.write_bytes(case.data)
        args = (["validate-config", str(bad)] if command == "validate-config" else
                ["train", "--config", str(bad), "--data", "x.csv", "--out", "m"])
        done = _cli(args, tmp_path)
        where = f"seed {case.seed} ({case.notes}): {done.stderr[-2000:]!r}"
        assert done.returncode == 2, where
        assert "Traceback" not in done.stderr, where
        assert len(done.stderr.strip().splitlines()) == 1, where
        assert done.stderr.startswith(f"anomaly-gan: error: {bad}"), where
        assert not (tmp_path / "m").exists(), where

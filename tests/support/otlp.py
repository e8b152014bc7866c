"""OTLP requests in the protobuf encoding (``otlp_proto``, the Collector's kafka exporter's
default) for tests: built from the generated classes, or from the OTLP/JSON documents the
otlp_json tests already write, so that one document is sent in both encodings."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

__all__ = ["ExportLogsServiceRequest", "ExportMetricsServiceRequest", "framed", "to_proto",
           "zstd_framed"]


def to_proto(doc: bytes | str | dict[str, Any]) -> bytes:
    """An OTLP/JSON request (an ``ExportMetricsServiceRequest`` or an
    ``ExportLogsServiceRequest``, told apart by its top-level list) as protobuf bytes, as
    the Collector's kafka exporter writes it with its default encoding."""
    if not isinstance(doc, dict):
        doc = json.loads(doc)
    request = ExportLogsServiceRequest if "resourceLogs" in doc else ExportMetricsServiceRequest
    return json_format.ParseDict(doc, request()).SerializeToString()


def framed(*messages: bytes) -> bytes:
    """``messages`` as the Collector's file exporter writes them with ``format: proto``:
    each after its length, 4 bytes big-endian (exporter/fileexporter/file_writer.go,
    ``exportMessageAsBuffer``)."""
    return b"".join(len(m).to_bytes(4, "big") + m for m in messages)


def zstd_framed(*messages: bytes | str) -> bytes:
    """``messages`` (protobuf requests, or OTLP/JSON documents) as the file exporter writes
    them with ``compression: zstd``, in either format: each compressed alone into one zstd
    frame that says its size and ends in a checksum (klauspost's ``EncodeAll``,
    exporter/fileexporter's ``zstdCompress``), then framed as :func:`framed` frames them
    (file_writer.go's ``buildExportFunc``: ``exportMessageAsBuffer`` for json too)."""
    import zstandard

    zstd = zstandard.ZstdCompressor(write_checksum=True)
    return framed(*(zstd.compress(m.encode() if isinstance(m, str) else m) for m in messages))

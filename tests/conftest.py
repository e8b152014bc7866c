"""Shared fixtures. Real services (broker, Prometheus, helm) are started by the fixtures in
tests/support/ and cleaned up at the end of the session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from anomaly_gan.inference import (
    MAX_CALL,
    CompiledScorer,
    batch_sizes,
    cpu_limit,
    padded_size,
    thread_settings,
)
from anomaly_gan.models import raw_outputs
from anomaly_gan.scoring import raw_components, window_activity


def test_padding_wastes_at_most_31_windows_and_sizes_are_few():
    for n in range(1, MAX_CALL + 1):
        size = padded_size(n)
        assert n <= size <= MAX_CALL
        assert size - n <= max(31, n - 1)  # small batches: next power of two
        assert size in batch_sizes()
    assert len(batch_sizes()) == 21
    assert batch_sizes(8) == [1, 2, 4, 8]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_compiled_scorer_equals_network_plus_components(tiny_detector, jit_compile):
    """The fused call gives the components, per-feature errors and movement of the separate
    steps (scaler, network, reduction), for a batch that XLA pads and one that is split."""
    det = tiny_detector
    rng = np.random.default_rng(1)
    fused = CompiledScorer(det.nets["scorer"], det.scaler.center, det.scaler.scale,
                           jit_compile=jit_compile)
    for n in (37, MAX_CALL + 5):
        raw = rng.normal(size=(n, det.window, det.n_features)) * 5
        scaled = det.scaler.transform(raw)
        comps_ref, pf_ref = raw_components(scaled, raw_outputs(det.kind, det.nets, scaled))
        comps, pf, act = fused(raw)
        assert set(comps) == set(comps_ref) and pf.shape == act.shape == (n, det.n_features)
        np.testing.assert_allclose(pf, np.asarray(pf_ref), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(act, np.asarray(window_activity(scaled)), rtol=1e-5, atol=1e-7)
        for k, v in comps.items():
            np.testing.assert_allclose(v, np.asarray(comps_ref[k]), rtol=1e-5, atol=1e-7)


def test_cpu_limit_takes_the_requested_cpus_where_no_quota_is_set(tmp_path, monkeypatch):
    """With no CPU limit (the chart's default) the affinity mask is the node's every core:
    63 model threads on a 64-core node for a pod that requested 500m. The chart passes the
    request, in whole CPUs, as ANOMALY_GAN_CPUS."""
    from anomaly_gan.inference import CPUS_ENV

    none = str(tmp_path / "none")
    monkeypatch.setenv(CPUS_ENV, "1")
    assert cpu_limit(none) == 1.0
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("50000 100000\n")  # a quota below the request wins
    assert cpu_limit(str(v2)) == 0.5
    for ignored in ("0", "", "lots"):  # no request (0), unset, garbage: the affinity mask
        monkeypatch.setenv(CPUS_ENV, ignored)
        monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(64)))
        assert cpu_limit(none) == 64.0


def test_cpu_limit_reads_cgroup_v2_and_v1_quotas(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cpu_limit(str(v2)) == pytest.approx(min(1.5, cpu_limit(str(tmp_path / "none"))))
    (v2 / "cpu.max").write_text("max 100000\n")
    unlimited = cpu_limit(str(v2))
    assert unlimited >= 1 and unlimited == cpu_limit(str(tmp_path / "none"))
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(str(tmp_path / "v1")) == 0.5
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_limit(str(tmp_path / "v1")) == unlimited


def test_model_threads_leave_a_core_to_the_loop():
    assert thread_settings(0.5) == (1, 1)
    assert thread_settings(2.0) == (1, 1)
    assert thread_settings(4.0) == (3, 1)


def test_configure_threads_shortens_the_gil_switch_interval():
    """The model thread gets the GIL back within 0.5 ms of the loop's Python, not 5 ms."""
    import sys

    from anomaly_gan.inference import GIL_SWITCH_INTERVAL_S, configure_threads

    before = sys.getswitchinterval()
    try:
        configure_threads(2.0)
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    finally:
        sys.setswitchinterval(before)


_SCALES_LIKE_THE_SCALER = """
import json, numpy as np
from anomaly_gan.data.scaling import fit_scaler
from anomaly_gan.inference import CompiledScorer

class Identity:  # the 'network' gives back what it was given: the scaled windows
    input_shape = (None, 4, 2)
    def __call__(self, scaled, training=False):
        return {"reconstruction": scaled}

rng = np.random.default_rng(0)
train = np.column_stack([1.7e9 + np.round(rng.normal(0.0, 10.0, 400)), np.full(400, 5.0)])
s = fit_scaler(train)
raw = train[:8].reshape(2, 4, 2)
got = CompiledScorer(Identity(), s.center, s.scale, round_off=s.round_off()).reconstruct(raw)
print(json.dumps({"got": np.asarray(got).tolist(), "want": s.transform(raw).tolist()}))
"""


@pytest.mark.slow  # a child process per backend: 10-60 s on 2 busy cores
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_network_sees_a_large_value_that_moves_beside_a_constant_one(backend):
    """A feature near 1.7e9 that moves by tens (an epoch-seconds field, a byte counter)
    beside one that held one value in training: under JAX, which computes in float32, the
    round-off rule for the constant feature (``settled``) ran on JAX arrays, so the whole
    window went through float32 before its centre was taken off, and every reading of the
    moving feature reached the network as 0 (its ulp at 1.7e9 is 128). The network's input
    is the scaler's, on every backend."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.support_models import jax_child_env

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           **(jax_child_env() if backend == "jax" else {})}
    env.pop("JAX_ENABLE_X64", None)
    done = subprocess.run([sys.executable, "-c", _SCALES_LIKE_THE_SCALER], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.array(result["got"]), np.array(result["want"]))

"""GANomaly training / scoring throughput per precision, measured with Keras 3 on the JAX backend.

Why JAX: the lent GPU machines have JAX (CUDA) but no TensorFlow, and production training
(anomaly_gan/models/ganomaly/gan.py) is a TensorFlow ``tf.GradientTape`` step. So this bench
builds the project's OWN networks (``anomaly_gan.models.ganomaly.networks.build_networks`` with a
dtype policy: hidden layers in the policy's compute dtype, latent/reconstruction/logit layers
float32) and ports the training step to a jitted JAX stateless step:

- discriminator: BCE from logits, real -> 1, reconstruction -> 0;
- generator: ``w_adv * feature matching + w_con * L1 + w_enc * latent L2`` (1 / 50 / 1);
- both gradients are taken from the same forward pass with the pre-update weights, as the TF
  step does with its two tapes (two ``jax.value_and_grad`` in one ``jax.jit``; XLA shares the
  common forward);
- ``mixed_float16``: each optimizer is a ``keras.optimizers.LossScaleOptimizer`` (as
  ``anomaly_gan.models.training.make_optimizer`` builds them); the loss is scaled with the
  optimizer's current ``dynamic_scale`` and ``stateless_apply`` unscales, skips non-finite steps
  and adapts the scale. ``mixed_bfloat16`` and ``float32``: plain Adam.

Measured per (size, precision): train windows/s, scorer windows/s (encoder -> decoder ->
encoder_hat plus the discriminator's features of x and x_hat, i.e. ``build_scorer`` built on the
policy networks), compile time, first/last losses and that they are finite, the compute dtype of
hidden layers and of each scorer output, and under float16 the loss scale (initial, final) and
skipped steps.

Run (GPU machine, or any machine with jax; KERAS_BACKEND defaults to jax here):

    KERAS_BACKEND=jax python bench/gpu_precision.py                       # all sizes, 3 precisions
    KERAS_BACKEND=jax python bench/gpu_precision.py --sizes default-b64 \
        --precisions float32 mixed_bfloat16 --out-stem gpu_precision_cpu  # CPU sanity check

Writes bench/results/<out-stem>.md and .json (``--out-dir`` to change the folder).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _load_project_networks() -> tuple[types.ModuleType, types.ModuleType]:
    """Import ``anomaly_gan.models.ganomaly.networks`` (and backbones) without TensorFlow.

    ``anomaly_gan/models/__init__.py`` and ``anomaly_gan/models/ganomaly/__init__.py`` import
    the TF training code (``import tensorflow``), and the GPU machine has no TensorFlow. The
    modules we need (backbones.py, networks.py, and anomaly_gan.config / errors) are pure Keras
    + PyYAML, so we register namespace-like stub packages for ``anomaly_gan.models`` and
    ``anomaly_gan.models.ganomaly`` that point at the real folders (``__path__``) without running
    their ``__init__``; the submodules are then the project's files, unmodified.
    """
    import anomaly_gan  # noqa: F401  (its __init__ only imports anomaly_gan.errors)

    for name, folder in (("anomaly_gan.models", REPO / "anomaly_gan" / "models"),
                         ("anomaly_gan.models.ganomaly",
                          REPO / "anomaly_gan" / "models" / "ganomaly")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]  # type: ignore[attr-defined]
            stub.__package__ = name
            sys.modules[name] = stub
    backbones = importlib.import_module("anomaly_gan.models.backbones")
    networks = importlib.import_module("anomaly_gan.models.ganomaly.networks")
    return backbones, networks


import keras
import numpy as np
from keras import ops

from anomaly_gan.config import ModelConfig, TrainingConfig

_BACKBONES, _NETWORKS = _load_project_networks()
build_networks = _NETWORKS.build_networks
build_scorer = _NETWORKS.build_scorer
GENERATOR_NETWORKS = _NETWORKS.GENERATOR_NETWORKS

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# float32 under jax.default_matmul_precision("highest"): on GPUs with tensor cores XLA's default
# may run float32 matmuls/convolutions in TF32; "highest" forces true float32 arithmetic.
EXTRA_PRECISIONS = ("float32_highest",)


@dataclass(frozen=True)
class Size:
    name: str
    batch: int
    window: int
    n_features: int
    hidden: tuple[int, ...]
    latent: int
    backbone: str = "conv1d"


SIZES: dict[str, Size] = {
    # The project default (configs: data.window 32, model.hidden (32, 64), latent_dim 16,
    # conv1d) on 25 features, at the default batch 64 and at 1024.
    "default-b64": Size("default-b64", 64, 32, 25, (32, 64), 16),
    "default-b1024": Size("default-b1024", 1024, 32, 25, (32, 64), 16),
    # A realistic larger setting (SMD-like 38 features, longer windows, wider layers).
    "realistic": Size("realistic", 1024, 128, 38, (64, 128), 32),
    # Heavier: where tensor-core precision can start to matter for models of this family.
    "large": Size("large", 4096, 256, 38, (128, 256), 64),
}


# ---------------------------------------------------------------------------------------------
# Losses. anomaly_gan/models/ganomaly/losses.py imports tensorflow (for type annotations only),
# so it cannot be imported on the GPU machine; these are the same formulas re-expressed with
# keras.ops, all in float32 whatever the layers' compute dtype. ``check_losses_match_project``
# compares them with the project's functions where TensorFlow is importable.
# ---------------------------------------------------------------------------------------------

def _f32(x):
    return ops.cast(x, "float32")


def adversarial_loss(features_real, features_fake):
    return ops.mean(ops.square(_f32(features_real) - _f32(features_fake)))


def contextual_loss(x, x_hat):
    return ops.mean(ops.abs(_f32(x) - _f32(x_hat)))


def encoder_loss(z, z_hat):
    return ops.mean(ops.square(_f32(z) - _f32(z_hat)))


def generator_loss(adv, con, enc, *, w_adv, w_con, w_enc):
    return w_adv * adv + w_con * con + w_enc * enc


def discriminator_loss(logit_real, logit_fake):
    real = _f32(logit_real)
    fake = _f32(logit_fake)
    loss_real = keras.losses.binary_crossentropy(ops.ones_like(real), real, from_logits=True)
    loss_fake = keras.losses.binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True)
    return 0.5 * (ops.mean(loss_real) + ops.mean(loss_fake))


def check_losses_match_project() -> str:
    """Compare the formulas above with anomaly_gan/models/ganomaly/losses.py if TF imports."""
    try:
        project = importlib.import_module("anomaly_gan.models.ganomaly.losses")
    except ImportError as exc:  # no tensorflow on this machine
        return f"skipped ({exc.name or exc} not importable)"
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=(8, 5)).astype("float32") for _ in range(2))
    la, lb = (rng.normal(size=(8, 1)).astype("float32") for _ in range(2))
    pairs = [
        (adversarial_loss(a, b), project.adversarial_loss(a, b)),
        (contextual_loss(a, b), project.contextual_loss(a, b)),
        (encoder_loss(a, b), project.encoder_loss(a, b)),
        (discriminator_loss(la, lb), project.discriminator_loss(la, lb)),
        (generator_loss(1.0, 2.0, 3.0, w_adv=1.0, w_con=50.0, w_enc=1.0),
         project.generator_loss(1.0, 2.0, 3.0, w_adv=1.0, w_con=50.0, w_enc=1.0)),
    ]
    worst = max(abs(float(x) - float(y)) for x, y in pairs)
    if worst > 1e-6:
        raise AssertionError(f"bench losses differ from the project's by {worst}")
    return f"match (max abs diff {worst:.1e})"


# ---------------------------------------------------------------------------------------------
# The JAX stateless GANomaly step.
# ---------------------------------------------------------------------------------------------

def make_optimizer(training: TrainingConfig, policy: str, name: str):
    """As anomaly_gan.models.training.make_optimizer (which imports TF, so not importable here)."""
    adam = keras.optimizers.Adam(learning_rate=training.learning_rate, beta_1=training.beta_1,
                                 name=name)
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_loss_scale")
    return adam


class Bench:
    def __init__(self, size: Size, policy: str, seed: int = 0) -> None:
        import jax

        self.jax = jax
        self.size = size
        self.policy = policy
        keras.utils.set_random_seed(seed)
        model = ModelConfig(hidden=size.hidden, latent_dim=size.latent, backbone=size.backbone)
        self.w = (float(model.w_adv), float(model.w_con), float(model.w_enc))
        self.nets = build_networks(model, size.window, size.n_features, policy)
        for name, net in self.nets.items():
            if net.non_trainable_variables:
                raise RuntimeError(f"{name} has non-trainable state; this step does not carry it")
        self.scorer = build_scorer(self.nets, size.window, size.n_features)
        training = TrainingConfig()
        self.g_vars = [v for n in GENERATOR_NETWORKS for v in self.nets[n].trainable_variables]
        self.d_vars = list(self.nets["discriminator"].trainable_variables)
        self.d_opt = make_optimizer(training, policy, "d_adam")
        self.g_opt = make_optimizer(training, policy, "g_adam")
        # Build before tracing, so scale_loss reads the dynamic_scale variable (see
        # GANBase.build_optimizers) and stateless_apply has its state to update.
        self.d_opt.build(self.d_vars)
        self.g_opt.build(self.g_vars)
        self.g_split = np.cumsum([len(self.nets[n].trainable_variables)
                                  for n in GENERATOR_NETWORKS])[:-1].tolist()
        self._train = jax.jit(self._train_step, donate_argnums=(0, 1, 2, 3))
        self._score = jax.jit(self._score_step)

    # -- forward + losses (stateless) ----------------------------------------------------------
    def _losses(self, d_tv, g_tv, x):
        enc_tv, dec_tv, ench_tv = np.split(np.arange(len(g_tv)), self.g_split)
        nets = self.nets
        z, _ = nets["encoder"].stateless_call([g_tv[i] for i in enc_tv], [], x, training=True)
        x_hat, _ = nets["decoder"].stateless_call([g_tv[i] for i in dec_tv], [], z,
                                                  training=True)
        z_hat, _ = nets["encoder_hat"].stateless_call([g_tv[i] for i in ench_tv], [], x_hat,
                                                      training=True)
        (f_real, l_real), _ = nets["discriminator"].stateless_call(d_tv, [], x, training=True)
        (f_fake, l_fake), _ = nets["discriminator"].stateless_call(d_tv, [], x_hat,
                                                                   training=True)
        adv = adversarial_loss(f_real, f_fake)
        con = contextual_loss(x, x_hat)
        enc = encoder_loss(z, z_hat)
        w_adv, w_con, w_enc = self.w
        return {
            "d_loss": discriminator_loss(l_real, l_fake),
            "g_loss": generator_loss(adv, con, enc, w_adv=w_adv, w_con=w_con, w_enc=w_enc),
            "adv_loss": adv,
            "rec_loss": con,
            "enc_loss": enc,
        }

    @staticmethod
    def _scaled(optimizer, opt_vars, loss):
        # As keras' own JAX trainer: scale with the optimizer's *current* (stateless) scale.
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, opt_vars))):
            return optimizer.scale_loss(loss)

    def _train_step(self, d_tv, g_tv, d_ov, g_ov, x):
        jax = self.jax

        def d_objective(d_tv_, g_tv_):
            values = self._losses(d_tv_, g_tv_, x)
            return self._scaled(self.d_opt, d_ov, values["d_loss"]), values

        def g_objective(g_tv_, d_tv_):
            values = self._losses(d_tv_, g_tv_, x)
            return self._scaled(self.g_opt, g_ov, values["g_loss"]), values

        # Both from the pre-update weights, like the TF step's two tapes over one forward pass.
        (_, values), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d_tv, g_tv)
        (_, _), g_grads = jax.value_and_grad(g_objective, has_aux=True)(g_tv, d_tv)
        new_d_tv, new_d_ov = self.d_opt.stateless_apply(d_ov, d_grads, d_tv)
        new_g_tv, new_g_ov = self.g_opt.stateless_apply(g_ov, g_grads, g_tv)
        return new_d_tv, new_g_tv, new_d_ov, new_g_ov, values

    def _score_step(self, tv, x):
        out, _ = self.scorer.stateless_call(tv, [], x, training=False)
        return out

    # -- measurement ---------------------------------------------------------------------------
    def state(self):
        return ([v.value for v in self.d_vars], [v.value for v in self.g_vars],
                [v.value for v in self.d_opt.variables], [v.value for v in self.g_opt.variables])

    def hidden_dtypes(self) -> dict[str, str]:
        enc = self.nets["encoder"]
        hidden = next(l for l in enc.layers if l.name in ("conv_0", "dense_0"))
        return {
            "policy": self.policy,
            "hidden_layer": f"encoder/{hidden.name}",
            "hidden_compute_dtype": hidden.compute_dtype,
            "hidden_variable_dtype": hidden.variable_dtype,
            "latent_layer_compute_dtype": enc.get_layer("latent").compute_dtype,
        }


def _timed(fn, min_seconds: float, repeats: int) -> tuple[float, int]:
    """Median seconds per call over ``repeats`` runs of >= min_seconds each; calls per run."""
    t0 = time.perf_counter()
    fn(1)
    one = max(time.perf_counter() - t0, 1e-6)
    n = max(3, math.ceil(min_seconds / one))
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        per_call.append((time.perf_counter() - t0) / n)
    return statistics.median(per_call), n


def run_one(size: Size, policy: str, *, warmup: int, min_seconds: float, repeats: int,
            n_batches: int = 8) -> dict:
    import jax

    bench = Bench(size, policy)
    rng = np.random.default_rng(0)
    # Device-resident batches (a smooth-ish signal plus noise), cycled, so host I/O is not timed.
    t = np.arange(size.window, dtype="float32")[None, :, None]
    batches = []
    for i in range(n_batches):
        phase = rng.uniform(0, 2 * np.pi, size=(size.batch, 1, size.n_features))
        x = np.sin(t / 6.0 + phase) + 0.1 * rng.normal(size=(size.batch, size.window,
                                                             size.n_features))
        batches.append(jax.device_put(x.astype("float32")))

    d_tv, g_tv, d_ov, g_ov = bench.state()
    init_scale = None
    if policy == "mixed_float16":
        init_scale = {"d": float(bench.d_opt.dynamic_scale.value),
                      "g": float(bench.g_opt.dynamic_scale.value)}

    t0 = time.perf_counter()
    d_tv, g_tv, d_ov, g_ov, values = bench._train(d_tv, g_tv, d_ov, g_ov, batches[0])
    jax.block_until_ready(values)
    compile_train_s = time.perf_counter() - t0
    first = {k: float(v) for k, v in values.items()}
    steps = 1
    for i in range(warmup):
        d_tv, g_tv, d_ov, g_ov, values = bench._train(d_tv, g_tv, d_ov, g_ov,
                                                      batches[(i + 1) % n_batches])
        steps += 1
    jax.block_until_ready((d_tv, g_tv))

    state = [d_tv, g_tv, d_ov, g_ov, values]

    def train_n(n: int) -> None:
        nonlocal steps
        d, g, do, go, v = state
        for i in range(n):
            d, g, do, go, v = bench._train(d, g, do, go, batches[(steps + i) % n_batches])
        jax.block_until_ready((d, g, do, go, v))
        steps += n
        state[:] = [d, g, do, go, v]

    train_s, train_n_steps = _timed(train_n, min_seconds, repeats)
    d_tv, g_tv, d_ov, g_ov, values = state
    last = {k: float(v) for k, v in values.items()}

    # Write the trained state back so optimizer/scale variables can be read by name.
    for var, val in zip(bench.d_vars + bench.g_vars, list(d_tv) + list(g_tv)):
        var.assign(val)
    for var, val in zip(bench.d_opt.variables, d_ov):
        var.assign(val)
    for var, val in zip(bench.g_opt.variables, g_ov):
        var.assign(val)

    # Scorer: the same trained networks, window -> raw outputs (encoder -> decoder -> encoder_hat
    # plus the discriminator's features of x and x_hat).
    s_tv = [v.value for v in bench.scorer.trainable_variables]
    t0 = time.perf_counter()
    out = bench._score(s_tv, batches[0])
    jax.block_until_ready(out)
    compile_score_s = time.perf_counter() - t0
    for _ in range(warmup):
        out = bench._score(s_tv, batches[0])
    jax.block_until_ready(out)
    score_out_dtypes = {k: str(v.dtype) for k, v in out.items()}

    def score_n(n: int) -> None:
        o = None
        for i in range(n):
            o = bench._score(s_tv, batches[i % n_batches])
        jax.block_until_ready(o)

    score_s, _score_n_calls = _timed(score_n, min_seconds, repeats)
    score_finite = all(bool(np.all(np.isfinite(np.asarray(v, dtype="float32"))))
                       for v in out.values())

    result = {
        "size": size.name,
        "batch": size.batch,
        "window": size.window,
        "n_features": size.n_features,
        "hidden": list(size.hidden),
        "latent": size.latent,
        "backbone": size.backbone,
        "precision": policy,
        **bench.hidden_dtypes(),
        "params_generator": int(sum(np.prod(v.shape) for v in bench.g_vars)),
        "params_discriminator": int(sum(np.prod(v.shape) for v in bench.d_vars)),
        "compile_train_s": round(compile_train_s, 2),
        "compile_score_s": round(compile_score_s, 2),
        "train_step_ms": train_s * 1e3,
        "train_windows_per_s": size.batch / train_s,
        "train_steps_per_timed_run": train_n_steps,
        "train_steps_total": steps,
        "score_batch_ms": score_s * 1e3,
        "score_windows_per_s": size.batch / score_s,
        "score_output_dtypes": score_out_dtypes,
        "score_outputs_finite": score_finite,
        "first_losses": first,
        "last_losses": last,
        "losses_finite": all(math.isfinite(v) for v in (*first.values(), *last.values())),
    }
    if policy == "mixed_float16":
        result["loss_scale"] = {
            "initial": init_scale,
            "final": {"d": float(bench.d_opt.dynamic_scale.value),
                      "g": float(bench.g_opt.dynamic_scale.value)},
            # The inner Adam counts only applied (finite) steps.
            "skipped_steps": {"d": steps - int(bench.d_opt.iterations.value),
                              "g": steps - int(bench.g_opt.iterations.value)},
        }
    return result


def environment() -> dict:
    import jax

    devices = jax.devices()
    env = {
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "platform": devices[0].platform,
        "device": getattr(devices[0], "device_kind", str(devices[0])),
        "n_devices": len(devices),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "host": platform.node(),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if env["platform"] == "cpu":
        env["cpu"] = platform.processor() or platform.machine()
        env["cpu_count"] = os.cpu_count()
    return env


def _fmt_scale(r: dict) -> str:
    ls = r.get("loss_scale")
    if not ls:
        return "-"
    f, s = ls["final"], ls["skipped_steps"]
    return (f"D {ls['initial']['d']:g}->{f['d']:g}, G {ls['initial']['g']:g}->{f['g']:g} "
            f"(skipped D {s['d']}, G {s['g']})")


def markdown(env: dict, results: list[dict], args: argparse.Namespace, losses_check: str) -> str:
    lines = [
        "# GANomaly precision benchmark (Keras 3, JAX backend)",
        "",
        (f"Device: **{env['device']}** ({env['platform']}, {env['n_devices']} device(s)); "
        f"keras {env['keras']}, jax {env['jax']}, python {env['python']}; "
        f"jax_default_matmul_precision={env['jax_default_matmul_precision']}; {env['utc']}."),
        "",
        ("Generated by `bench/gpu_precision.py` "
        f"(`--sizes {' '.join(args.sizes)} --precisions {' '.join(args.precisions)} "
        f"--warmup {args.warmup} --min-seconds {args.min_seconds} --repeats {args.repeats}`). "
        "Train = one jitted JAX stateless GANomaly step (D BCE + G 1*feature-matching + 50*L1 "
        "+ 1*latent L2, Adam, LossScaleOptimizer under float16), a port of the TF step in "
        "anomaly_gan/models/ganomaly/gan.py for measurement. Score = the `build_scorer` path "
        "(encoder -> decoder -> encoder_hat + discriminator features of x and x_hat) on the "
        "policy networks. Windows/s = batch / median step time; batches resident on the "
        f"device. Bench losses vs project losses.py: {losses_check}."),
        "",
        ("| size | batch | W x F | hidden / latent | precision | hidden compute dtype | "
        "train win/s | step ms | score win/s | vs f32 train | vs f32 score | "
        "rec_loss first->last | d_loss last | finite | loss scale (float16) |"),
        "|---|---:|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    base = {(r["size"], "train"): r["train_windows_per_s"] for r in results
            if r["precision"] == "float32"}
    base.update({(r["size"], "score"): r["score_windows_per_s"] for r in results
                 if r["precision"] == "float32"})
    for r in results:
        bt, bs = base.get((r["size"], "train")), base.get((r["size"], "score"))
        lines.append(
            f"| {r['size']} | {r['batch']} | {r['window']}x{r['n_features']} | "
            f"{tuple(r['hidden'])} / {r['latent']} | {r['precision']} | "
            f"{r['hidden_compute_dtype']} | {r['train_windows_per_s']:,.0f} | "
            f"{r['train_step_ms']:.3f} | {r['score_windows_per_s']:,.0f} | "
            f"{(r['train_windows_per_s'] / bt) if bt else float('nan'):.2f}x | "
            f"{(r['score_windows_per_s'] / bs) if bs else float('nan'):.2f}x | "
            f"{r['first_losses']['rec_loss']:.4f}->{r['last_losses']['rec_loss']:.4f} | "
            f"{r['last_losses']['d_loss']:.4f} | "
            f"{'yes' if r['losses_finite'] and r['score_outputs_finite'] else 'NO'} | "
            f"{_fmt_scale(r)} |")
    lines += [
        "",
        ("Scorer output dtypes per precision (features are hidden activations, so they come "
        "out in the compute dtype; latent / reconstruction layers are float32):"),
        "",
    ]
    seen = set()
    for r in results:
        if r["precision"] in seen:
            continue
        seen.add(r["precision"])
        lines.append(f"- {r['precision']}: " + ", ".join(
            f"{k}={v}" for k, v in sorted(r["score_output_dtypes"].items())))
    lines.append("")
    return "\n".join(lines)


def write(args: argparse.Namespace, env: dict, results: list[dict], losses_check: str) -> str:
    md = markdown(env, results, args, losses_check)
    (args.out_dir / f"{args.out_stem}.md").write_text(md)
    (args.out_dir / f"{args.out_stem}.json").write_text(json.dumps(
        {"environment": env, "args": {k: (str(v) if isinstance(v, Path) else v)
                                      for k, v in vars(args).items()},
         "losses_check": losses_check, "results": results}, indent=2) + "\n")
    return md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["default-b64", "default-b1024",
                                                       "realistic", "large"],
                        choices=sorted(SIZES))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS),
                        choices=PRECISIONS + EXTRA_PRECISIONS)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="each timed run lasts at least this long")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is kept")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--out-stem", default="gpu_precision")
    args = parser.parse_args(argv)

    if keras.backend.backend() != "jax":
        parser.error(f"needs KERAS_BACKEND=jax (got {keras.backend.backend()}): the step is JAX")
    env = environment()
    print(json.dumps(env), flush=True)
    losses_check = check_losses_match_project()
    print(f"bench losses vs project losses.py: {losses_check}", flush=True)

    import jax

    results: list[dict] = []
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for size_name in args.sizes:
        for policy in args.precisions:
            kw = {"warmup": args.warmup, "min_seconds": args.min_seconds, "repeats": args.repeats}
            if policy == "float32_highest":
                with jax.default_matmul_precision("highest"):
                    r = run_one(SIZES[size_name], "float32", **kw)
                r["precision"] = policy
            else:
                r = run_one(SIZES[size_name], policy, **kw)
            results.append(r)
            write(args, env, results, losses_check)  # after each row: a timeout keeps the rest
            print(f"{size_name:14s} {policy:15s} hidden={r['hidden_compute_dtype']:8s} "
                  f"train {r['train_windows_per_s']:>12,.0f} win/s ({r['train_step_ms']:.3f} ms)"
                  f"  score {r['score_windows_per_s']:>12,.0f} win/s  "
                  f"compile {r['compile_train_s']}s  finite={r['losses_finite']}  "
                  f"rec {r['first_losses']['rec_loss']:.4f}->{r['last_losses']['rec_loss']:.4f}"
                  f"  {_fmt_scale(r)}", flush=True)
            keras.backend.clear_session()

    print()
    print(write(args, env, results, losses_check))
    bad = [f"{r['size']}/{r['precision']}" for r in results
           if not (r["losses_finite"] and r["score_outputs_finite"])]
    if bad:
        print(f"non-finite losses or outputs: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

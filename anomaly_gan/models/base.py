"""The part of a GAN ``keras.Model`` that is the same in every family, and the family registry.

A family is a folder ``anomaly_gan/models/<kind>/`` whose ``gan.py`` subclasses
:class:`GANBase` with ``kind = "<kind>"`` (which registers it) and fills in:

- ``build_networks(model, window, n_features, policy)`` and ``build_scorer(networks, window,
  n_features)``: its networks and the one float32 inference model (``output_keys`` names the
  scorer's outputs);
- ``trained_networks``: which networks each optimizer updates, e.g.
  ``{"discriminator": ("discriminator",), "generator": ("encoder", "decoder")}``;
- ``phase_losses``: the losses each training phase logs (most families have one phase);
- ``compute_losses(group, x, training, scales)``: the loss assembly, written once with
  ``keras.ops`` and run by both backends' train steps;
- ``updates()``: which loss each optimizer minimises, in which order, in one ``train_step``;
- ``phases(training)``: the ``fit`` calls the driver makes, and the hooks
  ``reconstruct``, ``health_samples``, ``fit_callbacks`` and ``health_figures``.

The base gives it ``compile`` (one optimizer per entry of ``trained_networks``, built at once),
the loss trackers and ``metrics``, ``train_step``/``test_step`` for the running Keras backend
(:mod:`anomaly_gan.models.steps`: only the gradient plumbing differs between TensorFlow and
JAX), float32 inference copies, the seed generator and the registry lookup :func:`family`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from anomaly_gan.config import MODEL_KINDS, ModelConfig, TrainingConfig
from anomaly_gan.models.distribution import Distribution
from anomaly_gan.models.steps import BackendSteps

__all__ = ["GANBase", "OptimizerSet", "Phase", "Update", "family", "unpack_windows"]

Tensor = Any
"""A backend tensor (TensorFlow or JAX) or a symbolic one."""


def unpack_windows(data: Any) -> Tensor:
    """The window batch from whatever ``fit`` hands ``train_step`` (``x`` or ``(x,)``)."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    return ops.cast(data, "float32")


@dataclass(frozen=True)
class Update:
    """One optimisation step inside ``train_step``.

    The loss group ``group`` is computed once (one forward pass) and every optimizer named in
    ``losses`` minimises its loss key from that pass, all from the weights as they were before
    this update. Updates listed one after another see each other's results.
    """

    group: str
    losses: Mapping[str, str]


@dataclass(frozen=True)
class Phase:
    """One ``fit`` call of the training driver: ``epochs`` epochs of phase ``name``, with early
    stopping on ``monitor`` (``None``: run them all)."""

    name: str
    epochs: int
    monitor: str | None


class OptimizerSet:
    """A GAN's optimizers (one per trained network group) as the one ``model.optimizer``
    Keras' trainers expect.

    The JAX trainer carries ``model.optimizer.variables`` through its jitted step as state;
    listing every optimizer's variables here makes them travel (and get sharded) like a single
    optimizer's. ``optimizers`` is the attribute Keras' ``LearningRateScheduler`` looks for.
    """

    def __init__(self, optimizers: Mapping[str, keras.optimizers.Optimizer]) -> None:
        self.by_network = dict(optimizers)
        self.optimizers = list(self.by_network.values())

    @property
    def built(self) -> bool:
        return all(o.built for o in self.optimizers)

    def build(self, variables: Sequence[keras.Variable]) -> None:
        """Only :meth:`GANBase.compile` builds the optimizers, each on its own networks."""
        del variables
        if not self.built:
            raise RuntimeError("the GAN's optimizers are built by GANBase.compile")

    @property
    def variables(self) -> list[keras.Variable]:
        return [v for o in self.optimizers for v in o.variables]

    def slice_of(self, name: str) -> slice:
        """Where optimizer ``name``'s variables sit in :attr:`variables` now (not cached:
        giving an optimizer a learning-rate schedule drops its learning-rate variable)."""
        start = 0
        for key, optimizer in self.by_network.items():
            if key == name:
                return slice(start, start + len(optimizer.variables))
            start += len(optimizer.variables)
        raise KeyError(name)

    def finalize_variable_values(self, variables: Sequence[keras.Variable]) -> None:
        del variables  # plain Adam: nothing to finalise (no EMA)


_REGISTRY: dict[str, type[GANBase]] = {}


def family(kind: str) -> type[GANBase]:
    """The :class:`GANBase` subclass of ``kind``, importing ``anomaly_gan.models.<kind>``.

    >>> family("ganomaly").__name__
    'GANomaly'
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}")
    if kind not in _REGISTRY:
        importlib.import_module(f"anomaly_gan.models.{kind}")
    return _REGISTRY[kind]


class GANBase(BackendSteps, keras.Model):  # type: ignore[misc]
    """Shared machinery of the GAN families (see the module docstring)."""

    kind: ClassVar[str] = ""
    output_keys: ClassVar[tuple[str, ...]] = ()
    """The arrays the inference scorer returns (what :func:`raw_outputs` gives scoring)."""
    trained_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Optimizer name -> the networks whose trainable variables it updates."""
    phase_losses: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Phase -> the losses ``fit`` logs in it; the first phase is the initial one."""
    eval_groups: ClassVar[Mapping[str, str]] = {}
    """Phase -> the loss group ``test_step`` computes (validation)."""
    monitor: ClassVar[str] = ""
    """The validation loss early stopping watches (a ``fit`` log key)."""
    disc_loss_key: ClassVar[str | None] = None
    adv_loss_key: ClassVar[str | None] = None
    """History keys for the discriminator-collapse check (``None``: not a BCE discriminator)."""
    constant_learning_rate: ClassVar[bool] = False
    """True: ``training.lr_schedule`` does not apply (the family keeps its papers' rate)."""
    build_networks: ClassVar[Callable[..., dict[str, keras.Model]]]
    build_scorer: ClassVar[Callable[..., keras.Model]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    def __init__(self, model: ModelConfig, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("name", self.kind)
        super().__init__(**kwargs)
        self.model_config = model
        self.window = int(window)
        self.n_features = int(n_features)
        self.policy = policy
        self.networks: dict[str, keras.Model] = self._networks(policy)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.distribution = Distribution()
        """The devices it was built on (set by ``build_gan``); ``fit`` runs in its scope."""
        self.phase = next(iter(self.phase_losses))
        names = dict.fromkeys(n for losses in self.phase_losses.values() for n in losses)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def _networks(self, policy: str) -> dict[str, keras.Model]:
        build = type(self).build_networks
        return build(self.model_config, self.window, self.n_features, policy)

    # ------------------------------------------------------------------ compile and state

    def compile(self, optimizers: Mapping[str, keras.optimizers.Optimizer],  # type: ignore[override]
                **kwargs: Any) -> None:
        """One optimizer per entry of ``trained_networks``, built at once on its variables.

        Building before ``fit`` traces ``train_step`` matters under ``mixed_float16``: an unbuilt
        ``LossScaleOptimizer`` would bake its initial scale into the graph as a constant and
        never adapt it. ``jit_compile`` defaults to XLA on JAX (without it every op of the step
        runs eagerly) and to off on TensorFlow, whose CPU kernels are deterministic under
        ``enable_op_determinism``.
        """
        if set(optimizers) != set(self.trained_networks):
            raise ValueError(f"{self.kind} needs optimizers for {sorted(self.trained_networks)}, "
                             f"got {sorted(optimizers)}")
        kwargs.setdefault("jit_compile", keras.backend.backend() == "jax")
        super().compile(optimizer=None, **kwargs)
        ordered = {name: optimizers[name] for name in self.trained_networks}
        for name, optimizer in ordered.items():
            if not optimizer.built:
                optimizer.build(self.variables_of(name))
        self.optimizer = OptimizerSet(ordered)

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every optimizer, by the name of what it trains (see ``trained_networks``)."""
        optimizer_set = getattr(self, "optimizer", None)
        if not isinstance(optimizer_set, OptimizerSet):
            raise RuntimeError(f"{self.kind}: compile() has not been called")  # noqa: TRY004
        return dict(optimizer_set.by_network)

    def variables_of(self, name: str) -> list[keras.Variable]:
        """Trainable variables an optimizer updates (or of one network), in a stable order."""
        networks = self.trained_networks.get(name, (name,))
        return [v for n in networks for v in self.networks[n].trainable_variables]

    def set_phase(self, phase: str) -> None:
        """Switch what ``fit`` trains; a new phase forces ``train_step``/``test_step`` to be
        retraced (the same phase keeps the compiled functions)."""
        if phase not in self.phase_losses:
            raise ValueError(f"unknown {self.kind} phase {phase!r}; expected one of "
                             f"{', '.join(self.phase_losses)}")
        if phase == self.phase:
            return
        self.phase = phase
        self.train_function = None
        self.test_function = None

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.trackers[name] for name in self.phase_losses[self.phase]]

    def _track(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Update the current phase's trackers from ``values`` and return their results."""
        logged = [m for m in self.metrics if m.name in values]
        for tracker in logged:
            tracker.update_state(values[tracker.name])
        return {m.name: m.result() for m in logged}

    # ------------------------------------------------------------------ forward passes

    def call(self, windows: Any, training: bool = False, losses: str | None = None,
             scales: Mapping[str, Tensor] | None = None) -> Any:
        """The reconstruction of ``windows``; with ``losses``, that loss group's dict instead.

        The second form is how both backends' steps run the loss assembly: TensorFlow inside a
        ``GradientTape``, JAX through ``stateless_call`` under ``jax.value_and_grad``.
        """
        if losses is None:
            return self.reconstruct(windows, training)
        return self.compute_losses(losses, windows, training, dict(scales or {}))

    def reconstruct(self, windows: Tensor, training: bool) -> Tensor:
        raise NotImplementedError

    def compute_losses(self, group: str, x: Tensor, training: bool,
                       scales: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Loss group ``group`` on windows ``x``; ``scales`` maps an optimizer name to its
        current loss scale (1 outside ``mixed_float16``), for losses that differentiate
        inside (the gradient penalty)."""
        raise NotImplementedError

    def updates(self) -> list[Update]:
        """The optimisation steps of one ``train_step`` in the current phase."""
        raise NotImplementedError

    def phases(self, training: TrainingConfig) -> list[Phase]:
        """The ``fit`` calls of a training run; default: one phase, all epochs."""
        return [Phase(self.phase, training.epochs, self.monitor)]

    # ------------------------------------------------------------------ after training

    def inference_networks(self) -> dict[str, keras.Model]:
        """``{"scorer": window -> raw outputs}``: float32, built-in layers only."""
        scorer = type(self).build_scorer(self.float32_networks(), self.window, self.n_features)
        return {"scorer": scorer}

    def float32_networks(self) -> dict[str, keras.Model]:
        """Fresh float32 copies of the networks with the trained weights.

        Under a float32 policy the copies are still fresh objects, so a saved inference model
        never shares layers with the training model.
        """
        copies = self._networks("float32")
        for name, net in copies.items():
            net.set_weights(self.networks[name].get_weights())
        return copies

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Generated/reconstructed batches to compare with ``windows`` for mode collapse."""
        raise NotImplementedError

    def fit_callbacks(self) -> list[keras.callbacks.Callback]:
        """Family-specific callbacks for every ``fit`` (run after early stopping's)."""
        return []

    def health_figures(self) -> dict[str, Any]:
        """Family-specific JSON-able figures added to the health report."""
        return {}

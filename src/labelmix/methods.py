"""The paper's elicitation methods as data: a list of stages plus an optional few-shot prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labelmix.errors import ConfigError

Source = Literal["weak", "gold"]
Sampling = Literal["random", "uncertainty", "confident"]
Loss = Literal["xent", "logconf"]


@dataclass(frozen=True)
class StageSpec:
    """One training phase. Its size n comes from the allocation (n_weak or n_gold).

    sampling: `random`; `uncertainty` (examples the current model is least sure of, softmax over
    uncertainty / temperature, temperature 0 = top-k); `confident` (weak labels the weak labeler is
    most sure of). val_frac of the stage's own labels is held out for early stopping on AUROC."""

    source: Source
    sampling: Sampling = "random"
    temperature: float = 0.0
    uncertainty: Literal["entropy", "margin"] = "entropy"
    loss: Loss = "xent"
    val_frac: float = 0.2

    def __post_init__(self) -> None:
        if self.source not in ("weak", "gold"):
            raise ConfigError(f"stage source {self.source!r} must be 'weak' or 'gold'")
        if self.sampling not in ("random", "uncertainty", "confident"):
            raise ConfigError(
                f"sampling {self.sampling!r} must be random, uncertainty or confident"
            )
        if self.sampling == "confident" and self.source != "weak":
            raise ConfigError("'confident' sampling ranks weak labels; use it on a weak stage")
        if self.loss not in ("xent", "logconf"):
            raise ConfigError(f"loss {self.loss!r} must be 'xent' or 'logconf'")
        if self.temperature < 0:
            raise ConfigError(f"temperature {self.temperature} must be >= 0")
        if not 0.0 <= self.val_frac < 1.0:
            raise ConfigError(f"val_frac {self.val_frac} must lie in [0, 1)")


@dataclass(frozen=True)
class Method:
    name: str
    description: str = ""
    stages: tuple[StageSpec, ...] = ()
    shots: int = 0  # k-shot prefix in front of every SFT input, or the prompt of `few_shot`
    prompt_only: bool = False  # few_shot: no training, next-token scoring

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("a method needs a non-empty name")
        object.__setattr__(self, "stages", tuple(self.stages))
        bad = [s for s in self.stages if not isinstance(s, StageSpec)]
        if bad:
            raise ConfigError(f"method {self.name!r}: stages must be StageSpec, got {bad[0]!r}")
        if self.shots < 0:
            raise ConfigError(f"method {self.name!r}: shots {self.shots} must be >= 0")

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(s.source for s in self.stages)

    @property
    def fixed_gold_frac(self) -> float | None:
        """weak_only and gold_only spend the whole budget on one source; few_shot buys its k
        demonstrations from the oracle (gold)."""
        if self.prompt_only:
            return 1.0
        if self.sources == ("weak",):
            return 0.0
        if self.sources == ("gold",):
            return 1.0
        return None


WEAK = StageSpec("weak")
GOLD = StageSpec("gold")

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("weak_only", "SFT on weak labels only", (WEAK,)),
        Method("gold_only", "SFT on gold labels only", (GOLD,)),
        Method(
            "seq_sft",
            "weak SFT, then gold SFT; each stage early-stopped on its own 20%",
            (WEAK, GOLD),
        ),
        Method(
            "seq_sft_logconf",
            "seq_sft with the log-confidence auxiliary loss on the weak stage (Burns et al. 2023)",
            (StageSpec("weak", loss="logconf"), GOLD),
        ),
        Method(
            "seq_sft_active",
            "seq_sft; gold examples chosen by the uncertainty of the model after the weak stage",
            (WEAK, StageSpec("gold", sampling="uncertainty", temperature=0.0)),
        ),
        Method(
            "few_shot",
            "in-context prompt of k labelled examples, no training",
            shots=8,
            prompt_only=True,
        ),
        Method(
            "seq_sft_2shot",
            "seq_sft with a 2-shot weak-labelled prefix on every input",
            (WEAK, GOLD),
            shots=2,
        ),
        Method(
            "seq_sft_32shot",
            "seq_sft with a 32-shot weak-labelled prefix on every input",
            (WEAK, GOLD),
            shots=32,
        ),
    ]
}


# Methods a library caller defined in this process (labelmix.api.fit with a Method).
_REGISTERED: dict[str, Method] = {}


def register_method(method: Method) -> None:
    """Make a custom method (a list of stages) runnable by name in this process; registering a
    name again replaces the method (a built-in name is refused). Runs are keyed by the method's
    name, so give a changed method a new name before sweeping it into a store."""
    if not method.stages and not method.prompt_only:
        raise ConfigError(f"method {method.name!r} has no stages: give it at least one StageSpec")
    if len(set(method.sources)) < len(method.sources):
        # The allocation buys n_weak and n_gold once: two stages of one source would train on
        # the same labels (or buy them twice).
        raise ConfigError(
            f"method {method.name!r} has two stages of the same source {list(method.sources)}: "
            "at most one weak and one gold stage"
        )
    if method.name in METHODS and METHODS[method.name] != method:
        raise ConfigError(f"method name {method.name!r} is a built-in method; pick another name")
    if method.name not in METHODS:
        _REGISTERED[method.name] = method  # a redefinition (e.g. in a notebook) replaces it


def get_method(name: str) -> Method:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]

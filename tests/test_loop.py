"""The stage loop on a tiny learner with a known answer: learn a linear rule, stop early, restore."""

import numpy as np
import pytest
import torch

from labelmix.train.loop import lr_factor, train_stage
from labelmix.train.schedule import Schedule


class LinearLearner:
    """Texts are keys into a fixed feature table, so the loop runs without a language model."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        torch.manual_seed(0)
        self.head = torch.nn.Linear(next(iter(table.values())).shape[0], 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def encode(self, texts):
        return torch.as_tensor(np.stack([self.table[t] for t in texts]), dtype=torch.float32)

    def forward(self, encoded, idx):
        return self.head(encoded[torch.as_tensor(idx)]).squeeze(-1)

    def predict(self, encoded):
        with torch.no_grad():
            return self.head(encoded).squeeze(-1).numpy().astype(float)

    def parameters(self):
        return list(self.head.parameters())

    def snapshot(self):
        return {k: v.clone() for k, v in self.head.state_dict().items()}

    def restore(self, state):
        self.head.load_state_dict(state)

    def train_mode(self, on):
        self.head.train(on)


def _data(n, seed, flip=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    if flip:
        y = np.where(rng.random(n) < flip, 1 - y, y).astype(np.float32)
    texts = [f"s{seed}-{i}" for i in range(n)]
    return texts, x, y


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0)


def test_learns_a_linear_rule_and_is_deterministic():
    texts, x, y = _data(300, 0)
    vt, vx, vy = _data(60, 1)
    table = dict(zip(texts + vt, np.concatenate([x, vx]), strict=True))
    sched = Schedule(example_passes=3000, batch_size=32, warmup_steps=5, lr=0.05)
    runs = []
    for _ in range(2):
        learner = LinearLearner(table)
        report, _ = train_stage(learner, texts, y, vt, vy, sched, "xent", seed=3)
        pred = learner.predict(learner.encode(vt))
        runs.append(pred)
        assert ((pred > 0) == (vy > 0.5)).mean() > 0.9
        assert report.loss_last < report.loss_first
        assert report.best_val_auroc is not None and report.best_val_auroc > 0.95
        assert report.steps == sched.steps_for(300)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_early_stopping_restores_the_best_weights():
    texts, x, y = _data(200, 0)
    vt, vx, vy = _data(50, 1)
    table = dict(zip(texts + vt, np.concatenate([x, vx]), strict=True))
    # validation labels are the opposite of the training rule: every step makes them worse, so
    # the best checkpoint is the starting point when it competes.
    learner = LinearLearner(table)
    sched = Schedule(example_passes=2000, batch_size=32, warmup_steps=0, lr=0.05, eval_every=5)
    pre = learner.snapshot()
    report, _ = train_stage(learner, texts, y, vt, 1 - vy, sched, "xent", 0, start_competes=True)
    assert report.best_step == 0
    for k, v in learner.snapshot().items():
        assert torch.equal(v, pre[k])


def test_no_validation_means_no_early_stopping():
    texts, x, y = _data(20, 0)
    table = dict(zip(texts, x, strict=True))
    learner = LinearLearner(table)
    sched = Schedule(example_passes=200, batch_size=8, warmup_steps=0, lr=0.05)
    report, _ = train_stage(learner, texts, y, [], np.zeros(0), sched, "logconf", 0)
    assert report.best_step == report.steps
    assert report.early_stopping.startswith("none")


def _trained_first_stage(table, texts, y, vt, vy):
    learner = LinearLearner(table)
    sched = Schedule(example_passes=3000, batch_size=32, warmup_steps=5, lr=0.05)
    train_stage(learner, texts, y, vt, vy, sched, "xent", seed=1)
    return learner


def test_tiny_later_stage_is_guarded_by_earlier_validation_labels():
    """A later stage of 3 labels holds no validation labels of its own. With guard='own' nothing
    checks it and 3 contradicting labels overwrite a good first stage; with guard='union' its
    checkpoints, the starting weights among them, are scored on the first stage's validation
    labels too, and the good start is kept."""
    texts, x, y = _data(300, 0)
    vt, vx, vy = _data(60, 1)
    tt, tx, ty = _data(3, 2)
    table = dict(zip(texts + vt + tt, np.concatenate([x, vx, tx]), strict=True))
    wrong = 1 - ty  # three labels that contradict the rule
    sched = Schedule(example_passes=2000, batch_size=32, warmup_steps=0, lr=0.05)
    accs = {}
    for guard in ("own", "union"):
        learner = _trained_first_stage(table, texts, y, vt, vy)
        start = learner.snapshot()
        report, _ = train_stage(
            learner,
            tt,
            wrong,
            [],
            np.zeros(0),
            Schedule(**{**sched.__dict__, "guard": guard}),
            "xent",
            seed=0,
            start_competes=True,
            earlier_val=(vt, vy),
        )
        accs[guard] = ((learner.predict(learner.encode(vt)) > 0) == (vy > 0.5)).mean()
        if guard == "union":
            assert report.n_val == 0 and report.n_scored == len(vt)
            assert report.best_step == 0
            for k, v in learner.snapshot().items():
                assert torch.equal(v, start[k])
        else:
            assert report.n_scored == 0
    assert accs["union"] > 0.9
    assert accs["own"] < accs["union"]


def test_anchor_pulls_toward_the_starting_weights():
    """L2-SP: with anchor / n the weights of a tiny stage stay near where the stage started; the
    pull shrinks as n grows (the same anchor on 300 labels barely restrains them)."""
    texts, x, y = _data(300, 0)
    vt, vx, vy = _data(60, 1)
    tt, tx, ty = _data(4, 3)
    table = dict(zip(texts + vt + tt, np.concatenate([x, vx, tx]), strict=True))

    def moved(anchor: float, stage_texts, stage_y) -> float:
        learner = _trained_first_stage(table, texts, y, vt, vy)
        start = torch.cat([p.detach().clone().ravel() for p in learner.parameters()])
        sched = Schedule(
            example_passes=2000, batch_size=32, warmup_steps=0, lr=0.05, guard="own", anchor=anchor
        )
        train_stage(
            learner,
            stage_texts,
            1 - stage_y,
            [],
            np.zeros(0),
            sched,
            "xent",
            0,
            start_competes=True,
        )
        end = torch.cat([p.detach().ravel() for p in learner.parameters()])
        return float((end - start).norm())

    assert moved(20.0, tt, ty) < 0.5 * moved(0.0, tt, ty)
    big_free, big_anchored = moved(0.0, texts, y), moved(20.0, texts, y)
    assert big_anchored > 0.5 * big_free


def test_logconf_weight_has_its_own_warmup():
    from labelmix.train.losses import logconf_weight

    sched = Schedule()
    assert sched.logconf_warmup == 200 and sched.warmup_steps == 40
    assert logconf_weight(100, sched.logconf_warmup) == pytest.approx(0.25)
    with pytest.raises(Exception, match="logconf_warmup"):
        Schedule(logconf_warmup=-1)
    with pytest.raises(Exception, match="guard"):
        Schedule(guard="both")
    with pytest.raises(Exception, match="anchor"):
        Schedule(anchor=-1.0)


def test_a_diverged_stage_fails_instead_of_passing_as_a_result():
    """lr 1e30 makes the loss non-finite: the stage raises a clear error (a sweep records the run
    as failed) rather than returning a head of NaNs scored at chance."""
    from labelmix.errors import TrainingError

    texts, x, y = _data(64, 0)
    vt, vx, vy = _data(20, 1)
    table = dict(zip(texts + vt, np.concatenate([x, vx]) * 1e6, strict=True))
    learner = LinearLearner(table)
    sched = Schedule(example_passes=2000, batch_size=16, warmup_steps=0, lr=1e30)
    with pytest.raises(TrainingError, match="diverged; lower the learning rate"):
        train_stage(learner, texts, y, vt, vy, sched, "xent", seed=0)

"""A labelling project: buy real labels for your own unlabelled items within a budget, with the
methods and sampling the simulation evaluates, and train on what was bought.

    p = Project.init("proj", "unlabelled.jsonl", budget=100, weak_cost=0.02, gold_cost=1)
    batch = p.next_batch("gold", 40)                   # files for annotators; $40 reserved
    p.import_labels("proj/batches/batch-0001-gold.csv")  # what arrived is charged
    p.buy_machine_weak_labels(1000, "minilm")          # a probe trained on the 40 gold labels
    p.train("seq_sft").accuracy                        # cross-validated on the gold labels
    p.status().lines()

Everything durable is in the folder's SQLite ledger (labelmix.project.db); the batch files and
saved classifiers beside it are written after the change they belong to is committed, and a
missing batch file is written again when the project is opened."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelmix.errors import BudgetError, ConfigError, DataError
from labelmix.project import formats
from labelmix.project.db import DB_NAME, MICRO, ProjectDB, now, to_micro, usd
from labelmix.project.labelers import KINDS, LabelFn, checked_probs
from labelmix.project.training import Bought, TrainSettings
from labelmix.train.schedule import Schedule

SOURCES = ("weak", "gold")
STRATEGIES = ("random", "uncertainty", "advisor")
MIN_GOLD_FOR_ESTIMATE = 20  # the gold labels a cross-validated estimate starts to be useful at


@dataclass(frozen=True)
class Batch:
    """One order: its items wait for labels while it is open; closing it releases what was
    reserved for the items still unlabelled."""

    id: int
    source: str
    strategy: str
    labeler: str | None
    price_micro: int
    n: int
    labelled: int
    status: str
    created: str
    files: tuple[Path, ...]

    @property
    def price(self) -> float:
        return self.price_micro / MICRO

    @property
    def still_reserved_micro(self) -> int:
        return (self.n - self.labelled) * self.price_micro if self.status == "open" else 0

    def line(self) -> str:
        who = (
            f"labelled by {self.labeler}"
            if self.labeler
            else f"{self.labelled} of {self.n} labelled"
        )
        what = f"{self.source}, {self.strategy}, {self.n} at {usd(self.price_micro)}"
        text = f"batch #{self.id} ({what}): {who}"
        if self.status == "open":
            text += f", {usd(self.still_reserved_micro)} reserved"
            if self.files:
                text += f" -> {self.files[0]}"
        return text


@dataclass(frozen=True)
class ImportReport:
    file: Path
    kind: str
    new: int  # labels added (and charged) by this import
    known: int  # labels the project already had, the same: a re-import charges nothing
    repeated: int  # rows repeating another row of the file
    blank: int  # rows (or tasks) without a label yet
    cancelled: int  # Label Studio annotations marked cancelled
    charged_micro: int
    batches: tuple[Batch, ...]

    def lines(self) -> list[str]:
        if self.new == 0:
            head = (
                f"{self.file.name}: nothing new ({self.known} label(s) already imported); "
                "nothing charged"
            )
        else:
            head = (
                f"{self.file.name} ({self.kind}): {self.new} new label(s), charged "
                f"{usd(self.charged_micro)}"
                + (f"; {self.known} already imported" if self.known else "")
            )
        extra = []
        if self.blank:
            extra.append(f"{self.blank} without a label yet (left open)")
        if self.repeated:
            extra.append(f"{self.repeated} repeated row(s) counted once")
        if self.cancelled:
            extra.append(f"{self.cancelled} cancelled annotation(s) skipped")
        if extra:
            head += " (" + "; ".join(extra) + ")"
        return [head] + [b.line() for b in self.batches]


@dataclass(frozen=True)
class TrainedClassifier:
    """A classifier trained in the project, as recorded: where it is saved and how accurate the
    cross-validation on gold labels estimates it to be."""

    id: int
    method: str
    trainer: str
    model: str
    n_weak: int
    n_gold: int
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    estimated_how: str | None
    path: Path
    created: str
    notes: tuple[str, ...] = ()
    stages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    classifier: Any = field(default=None, repr=False)  # the Classifier, when just trained

    def line(self) -> str:
        head = (
            f"classifier #{self.id}: {self.method} ({self.trainer}, {self.model}) on "
            f"{self.n_weak} weak + {self.n_gold} gold labels"
        )
        if self.accuracy is None or self.accuracy_ci is None:
            return head + ": accuracy not estimated"
        lo, hi = self.accuracy_ci
        estimate = f"{self.accuracy:.3f} [{lo:.3f}, {hi:.3f}] ({self.estimated_how})"
        return f"{head}: estimated accuracy {estimate}"


@dataclass(frozen=True)
class Status:
    folder: Path
    n_items: int
    money: dict[str, int]  # budget, spent, reserved, left (micro-dollars)
    counts: dict[str, int]  # labels per source
    spent_by_source: dict[str, int]
    prices: dict[str, int]
    open_batches: tuple[Batch, ...]
    latest: TrainedClassifier | None
    stale: bool  # labels arrived after the latest classifier was trained
    advice: str
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        m = self.money
        unlabelled = self.n_items - sum(self.counts.values())
        out = [
            f"project {self.folder}: {self.n_items} items, {unlabelled} without a label",
            f"budget {usd(m['budget'])}: spent {usd(m['spent'])}, reserved {usd(m['reserved'])}, "
            f"left {usd(m['left'])}",
            "labels: "
            + ", ".join(
                f"{s} {self.counts[s]} at {usd(self.prices[s])} ({usd(self.spent_by_source[s])})"
                for s in ("gold", "weak")
            ),
        ]
        out += [f"open: {b.line()}" for b in self.open_batches] or ["open batches: none"]
        if self.latest is None:
            out.append("latest classifier: none trained yet")
        else:
            out.append(
                "latest " + self.latest.line() + (" [labels arrived since]" if self.stale else "")
            )
            out.append(f"  saved in {self.latest.path}")
        out.append(f"next: {self.advice}")
        out += [f"LEDGER PROBLEM: {p}" for p in self.problems]
        return out


class Project:
    """A project folder: its ledger (project.sqlite), batch files (batches/) and classifiers
    (classifiers/). Open one with Project.open, make one with Project.init."""

    def __init__(self, folder: Path, db: ProjectDB) -> None:
        self.folder = folder
        self.db = db
        try:
            with db.read() as conn:
                self._meta = ProjectDB.meta(conn)
        except BaseException:
            db.close()
            raise

    # ---------------------------------------------------------------- making and opening

    @classmethod
    def init(
        cls,
        folder: str | Path,
        data: Any,
        *,
        budget: float,
        weak_cost: float,
        gold_cost: float = 1.0,
        seed: int = 0,
        text_field: str = "text",
        id_field: str | None = None,
    ) -> Project:
        """A new project over the unlabelled items of `data` (see formats.read_items). `seed`
        draws the items' order: random batches take the next items in it, and training replays
        it, so a project and a simulated run with the same seed choose alike."""
        from labelmix.config import MAX_BUDGET
        from labelmix.labels.budget import Prices
        from labelmix.paths import check_output_dir
        from labelmix.seeds import run_rng

        folder = Path(folder).expanduser()
        path = folder / DB_NAME
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} is a file, not a folder")
        if path.exists():
            raise ConfigError(
                f"{folder} is already a labelmix project; open it, or pick another folder"
            )
        if folder.is_dir() and any(not p.name.startswith(_LEFTOVER) for p in folder.iterdir()):
            raise ConfigError(f"{folder} is not empty; a project needs a folder of its own")
        check_output_dir(folder, "project folder")  # a file on its way, a read-only parent
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ConfigError(f"seed {seed!r} must be an integer in 0..2**32-1")
        prices = {
            "weak": to_micro(weak_cost, "weak cost"),
            "gold": to_micro(gold_cost, "gold cost"),
        }
        Prices(weak_cost, gold_cost)  # warns if weak labels are not the cheaper ones
        if isinstance(budget, int | float) and not isinstance(budget, bool) and budget > MAX_BUDGET:
            raise ConfigError(f"budget {budget:g} is above ${MAX_BUDGET:g}")
        budget_micro = to_micro(budget, "budget")
        if budget_micro < min(prices.values()):
            raise BudgetError(
                f"budget {usd(budget_micro)} cannot buy a single label (weak "
                f"{usd(prices['weak'])}, gold {usd(prices['gold'])}); raise the budget"
            )
        items = formats.read_items(data, text_field, id_field)
        order = run_rng(seed).permutation(len(items.ids))
        ranks = np.empty(len(order), dtype=int)
        ranks[order] = np.arange(len(order))
        meta = {
            "budget": budget_micro,
            "weak_price": prices["weak"],
            "gold_price": prices["gold"],
            "seed": seed,
            "n_items": len(items.ids),
            "data": str(data) if isinstance(data, str | Path) else f"your {type(data).__name__}",
            "notes": items.notes,
            "created": now(),
        }
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{_LEFTOVER}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            ProjectDB.create(tmp, meta, items.ids, items.texts, ranks.tolist())
            _publish(tmp, path)  # the project exists once, whole; never over another one
        finally:
            tmp.unlink(missing_ok=True)
        for old in folder.glob(f"{_LEFTOVER}*"):  # left by inits killed half-way
            old.unlink(missing_ok=True)
        (folder / "batches").mkdir(exist_ok=True)
        (folder / "classifiers").mkdir(exist_ok=True)
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | Path) -> Project:
        folder = Path(folder).expanduser()
        path = folder / DB_NAME
        if not path.is_file():
            raise ConfigError(
                f"{folder} is not a labelmix project (no {DB_NAME}); make one with "
                "`labelmix project init`"
            )
        project = cls(folder, ProjectDB(path))
        try:
            project._write_missing_batch_files()
        except BaseException:
            project.close()
            raise
        return project

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def notes(self) -> list[str]:
        """What reading the data did (repeats kept once, a label field ignored, how items are
        named)."""
        return list(self._meta["notes"])

    @property
    def seed(self) -> int:
        return int(self._meta["seed"])

    def price_micro(self, source: str) -> int:
        return int(self._meta[f"{source}_price"])

    # ---------------------------------------------------------------- ordering labels

    def next_batch(self, source: str, n: int, strategy: str = "random") -> Batch:
        """Order `n` labels from annotators: picks the items, reserves their price and writes the
        batch files (CSV, JSONL, Label Studio tasks) to label. `random`: the next items of the
        project's seeded order; `uncertainty`: those the latest classifier is least sure of."""
        _check_order(source, n, strategy)
        scores = self._uncertainty_scores() if strategy == "uncertainty" else None
        with self.db.write() as conn:
            picked = self._pick(conn, n, strategy, scores)
            batch_id = self._insert_batch(conn, source, strategy, None, picked)
        return self._write_batch_files(self.batch(batch_id))

    def buy_machine_weak_labels(
        self,
        n: int,
        labeler: str | LabelFn,
        *,
        kind: str = "probe",
        strategy: str = "random",
        shots: int = 8,
        layer: int | None = None,
    ) -> Batch:
        """Weak labels from a machine, bought at the weak price in one change, no file round trip.
        `labeler`: a model name with `kind` "probe" (a probe on its frozen features, trained on the
        gold labels bought so far) or "icl" (`shots` gold labels as few-shot demonstrations), or
        your own function from a list of texts to P(label 1) each (e.g. an LLM API call)."""
        _check_order("weak", n, strategy)
        if not callable(labeler) and kind not in KINDS:
            raise ConfigError(f"labeler kind {kind!r} must be one of {', '.join(KINDS)}")
        price = self.price_micro("weak")
        scores = self._uncertainty_scores() if strategy == "uncertainty" else None
        with self.db.read() as conn:  # fail before any model work; decided again on writing
            ProjectDB.check_affordable(conn, n, price, "weak")
            picked = self._pick(conn, n, strategy, scores)
            gold_ids, gold_texts, gold_y = self._labels_of(conn, "gold")
        texts = self._texts(picked)
        if callable(labeler):
            name = getattr(labeler, "__name__", type(labeler).__name__)
            described, fn = f"your function {name}", labeler
        elif kind == "probe":
            from labelmix.project.labelers import probe_labeler

            described = f"probe on {labeler} features, trained on {len(gold_ids)} gold labels"
            fn = probe_labeler(labeler, gold_texts, gold_y, self.seed, layer)
        else:
            from labelmix.project.labelers import icl_labeler

            described = f"{labeler} prompted with {shots} gold demonstrations"
            fn = icl_labeler(labeler, gold_texts, gold_y, shots, self.seed)
        probs = checked_probs(fn(list(texts)), len(texts), described)
        with self.db.write() as conn:
            free = {item_id for item_id, _, _ in ProjectDB.free_items(conn)}
            if not set(picked) <= free:
                raise DataError(
                    "another labelmix command ordered some of these items while the labeler "
                    "worked; nothing was bought: run this again"
                )
            batch_id = self._insert_batch(
                conn,
                "weak",
                strategy,
                described,
                picked,
                learned_from_gold=not callable(labeler) and (kind == "probe" or shots > 0),
            )
            stamp = now()
            conn.executemany(
                """INSERT INTO labels (item_id, source, value, price, batch_id, import_id,
                   received, origin) VALUES (?, 'weak', ?, ?, ?, NULL, ?, ?)""",
                [
                    (i, float(p), price, batch_id, stamp, f"labeler: {described}")
                    for i, p in zip(picked, probs, strict=True)
                ],
            )
            ProjectDB.add_money(conn, batch_id, "charge", len(picked), len(picked) * price)
            ProjectDB.close_if_done(conn, batch_id)
        return self.batch(batch_id)

    def close_batch(self, batch_id: int) -> Batch:
        """Stop waiting for a batch's missing labels: what was reserved for them is released."""
        self._check_number(batch_id, "batch")
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT status, n, price FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                raise ConfigError(f"there is no batch #{batch_id} in {self.folder}")
            status, n, price = row
            if status == "closed":
                raise ConfigError(f"batch #{batch_id} is already closed")
            labelled = conn.execute(
                "SELECT COUNT(*) FROM labels WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
            ProjectDB.add_money(conn, batch_id, "release", n - labelled, (n - labelled) * price)
            conn.execute(
                "UPDATE batches SET status = 'closed', closed = ? WHERE id = ?", (now(), batch_id)
            )
        return self.batch(batch_id)

    # ---------------------------------------------------------------- receiving labels

    def import_labels(
        self,
        path: str | Path,
        *,
        id_field: str = "id",
        label_field: str = "label",
        names: Mapping[str, int] | None = None,
    ) -> ImportReport:
        """Labels from a CSV or JSONL (fields `id` and `label`, as in the batch files) or from
        Label Studio's JSON export. All or nothing: any unknown id, id outside an open batch,
        label outside {0, 1} (after `names`, e.g. {"sarcastic": 1, "not": 0}) or conflicting
        label refuses the whole file, naming each kind of problem. Labels already imported are
        skipped, so importing a file again charges nothing; rows without a label leave their
        items open (a partial batch). A row that names its batch (the batch files' `batch`
        column) is taken only into that batch: a late file of a closed batch is refused, even
        when a later batch ordered its items again."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise DataError(f"label file {path} is a folder, not a file")
        if not path.is_file():
            raise DataError(f"label file {path} does not exist")
        parsed = formats.read_label_file(path, id_field, label_field, names)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        problems = parsed.problems
        first: dict[str, formats.LabelRow] = {}
        repeated = 0
        for row in parsed.rows:
            seen = first.setdefault(row.item_id, row)
            if seen is not row:
                if seen.value == row.value:
                    repeated += 1
                else:
                    problems.add(
                        "ids with conflicting labels",
                        f"{row.item_id!r} in {seen.where} and {row.where}",
                    )
        with self.db.write() as conn:
            new: list[tuple[formats.LabelRow, int, int]] = []  # (row, batch, price)
            known = 0
            for item_id, row in first.items():
                state = _item_state(conn, item_id)
                if state is None:
                    problems.add(
                        "unknown ids (not items of this project)", f"{item_id!r} in {row.where}"
                    )
                elif state["label"] is not None:
                    if state["label"] == row.value:
                        known += 1
                    else:
                        problems.add(
                            "ids already labelled otherwise",
                            f"{item_id!r} has {state['source']} label {state['label']:g}, "
                            f"{row.where} says {row.value}",
                        )
                elif row.batch is not None and row.batch != state["open_batch"]:
                    was = _batch_status_of(conn, item_id, row.batch)
                    if was == "closed":
                        problems.add(
                            "ids of a batch that was closed (its reservation was released; "
                            "order them again with `labelmix project next`)",
                            f"{item_id!r} in {row.where}: batch #{row.batch}",
                        )
                    else:
                        problems.add(
                            "ids that the batch their row names did not order",
                            f"{item_id!r} in {row.where}: batch #{row.batch}",
                        )
                elif state["open_batch"] is None:
                    problems.add(
                        "ids not in an open batch (never ordered, or their batch was closed)",
                        f"{item_id!r} in {row.where}",
                    )
                else:
                    new.append((row, state["open_batch"], state["price"]))
            if problems:
                raise DataError(problems.message(str(path)))
            charged = sum(price for _, _, price in new)
            touched = sorted({b for _, b, _ in new})
            if new:
                cur = conn.execute(
                    """INSERT INTO imports (at, file, sha256, n_new, n_known, charged)
                       VALUES (?, ?, ?, ?, ?, ?)""",
                    (now(), _as_text(path), digest, len(new), known, charged),
                )
                import_id = cur.lastrowid
                stamp = now()
                conn.executemany(
                    """INSERT INTO labels (item_id, source, value, price, batch_id, import_id,
                       received, origin) VALUES (?, (SELECT source FROM batches WHERE id = ?),
                       ?, ?, ?, ?, ?, ?)""",
                    [
                        (
                            row.item_id,
                            b,
                            float(row.value),
                            price,
                            b,
                            import_id,
                            stamp,
                            f"import: {_as_text(Path(path.name))}",
                        )
                        for row, b, price in new
                    ],
                )
                for b in touched:
                    got = [price for _, bb, price in new if bb == b]
                    ProjectDB.add_money(conn, b, "charge", len(got), sum(got))
                    ProjectDB.close_if_done(conn, b)
        return ImportReport(
            file=path,
            kind=parsed.kind,
            new=len(new),
            known=known,
            repeated=repeated,
            blank=parsed.blank,
            cancelled=parsed.cancelled,
            charged_micro=charged,
            batches=tuple(self.batch(b) for b in touched),
        )

    # ---------------------------------------------------------------- training

    def train(
        self,
        method: str = "seq_sft",
        *,
        trainer: str = "probe",
        model: str = "smollm2",
        folds: int = 5,
        layer: int | None = None,
        schedule: Schedule | None = None,
        save_to: str | Path | None = None,
    ) -> TrainedClassifier:
        """Train `method` on the labels bought (items without a label never train), estimate its
        accuracy by cross-validation on the gold labels, save it in the project (and to `save_to`)
        and record it."""
        from labelmix.classifier import Classifier
        from labelmix.paths import check_output_dir
        from labelmix.project.training import train
        from labelmix.prompts import Prefixer

        settings = TrainSettings(
            method=method,
            trainer=trainer,
            model=model,
            seed=self.seed,
            folds=folds,
            layer=layer,
            schedule=schedule,
        )
        if save_to is not None:
            check_output_dir(Path(save_to), "--save-model")
        bought, labels_digest, weak_from_gold, gold_by_uncertainty = self._bought()
        trained = train(settings, bought)
        notes = list(trained.notes)
        uses = settings.method_spec.sources
        for s in SOURCES:
            if bought.positions[s] and s not in uses:
                notes.append(f"{len(bought.positions[s])} {s} labels unused by {method}")
        if "weak" in uses and weak_from_gold and trained.estimate:
            notes.append(
                "the weak labels come from a labeler that learnt from these gold labels, so the "
                "estimate leans optimistic"
            )
        if gold_by_uncertainty and trained.estimate:
            notes.append(
                f"{gold_by_uncertainty} of the {len(bought.positions['gold'])} gold labels were ordered by "
                "uncertainty (items a classifier found hard, not a sample of your data): the "
                "estimate leans pessimistic and describes those items more than the rest"
            )
        digest = hashlib.sha256(
            repr((method, trainer, model, self.seed, labels_digest)).encode()
        ).hexdigest()[:20]
        clf = Classifier(
            trained.learner,
            trainer,
            model,
            Prefixer([], 0, self.seed),
            self.seed,
            f"project-{digest}",
        )
        folder, number = self._claim_classifier_folder(method)
        clf.save(folder)
        est = trained.estimate
        counts = {s: len(bought.positions[s]) for s in SOURCES}
        with self.db.write() as conn:
            conn.execute(
                """INSERT INTO classifiers (id, at, method, trainer, model, seed, n_weak, n_gold,
                   cv_accuracy, cv_low, cv_high, cv_how, path, notes)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    number,
                    now(),
                    method,
                    trainer,
                    model,
                    self.seed,
                    counts["weak"],
                    counts["gold"],
                    est.accuracy if est else None,
                    est.low if est else None,
                    est.high if est else None,
                    est.how if est else None,
                    str(folder.relative_to(self.folder)),
                    "\n".join(notes),
                ),
            )
        if save_to is not None:
            clf.save(Path(save_to))
        record = self.classifier_record(number)
        return TrainedClassifier(
            **{**record.__dict__, "stages": tuple(trained.stages), "classifier": clf}
        )

    def classifier(self, number: int | None = None) -> Any:
        """A classifier trained in the project (default: the latest), loaded."""
        from labelmix.classifier import Classifier

        return Classifier.load(self.classifier_record(number).path)

    def classifier_record(self, number: int | None = None) -> TrainedClassifier:
        if number is not None:
            self._check_number(number, "classifier")
        with self.db.read() as conn:
            row = _classifier_row(conn, number)
        if row is None:
            raise ConfigError(
                f"{self.folder} has no classifier"
                + (
                    f" #{number}"
                    if number is not None
                    else " yet: train one with `labelmix project train`"
                )
            )
        return row_to_trained(self.folder, row)

    # ---------------------------------------------------------------- reports

    def status(self) -> Status:
        with self.db.read() as conn:
            money = ProjectDB.money(conn)
            counts = dict.fromkeys(SOURCES, 0)
            spent = dict.fromkeys(SOURCES, 0)
            for source, n, total in conn.execute(
                "SELECT source, COUNT(*), SUM(price) FROM labels GROUP BY source"
            ):
                counts[source], spent[source] = n, int(total)
            open_ids = [
                r[0]
                for r in conn.execute("SELECT id FROM batches WHERE status = 'open' ORDER BY id")
            ]
            row = _classifier_row(conn, None)
            problems = ProjectDB.check(conn)
        latest = row_to_trained(self.folder, row) if row is not None else None
        stale = latest is not None and (latest.n_weak, latest.n_gold) != (
            counts["weak"],
            counts["gold"],
        )
        open_batches = tuple(self.batch(b) for b in open_ids)
        prices = {s: self.price_micro(s) for s in SOURCES}
        status = Status(
            folder=self.folder,
            n_items=int(self._meta["n_items"]),
            money=money,
            counts=counts,
            spent_by_source=spent,
            prices=prices,
            open_batches=open_batches,
            latest=latest,
            stale=stale,
            advice="",
            problems=tuple(problems),
        )
        return Status(**{**status.__dict__, "advice": _advice(status)})

    def check(self) -> list[str]:
        """The ledger's invariants (see ProjectDB.check); [] when they hold."""
        with self.db.read() as conn:
            return ProjectDB.check(conn)

    def batch(self, batch_id: int) -> Batch:
        self._check_number(batch_id, "batch")
        with self.db.read() as conn:
            row = conn.execute(
                """SELECT id, source, strategy, labeler, price, n,
                          (SELECT COUNT(*) FROM labels l WHERE l.batch_id = b.id), status, created
                   FROM batches b WHERE id = ?""",
                (batch_id,),
            ).fetchone()
        if row is None:
            raise ConfigError(f"there is no batch #{batch_id} in {self.folder}")
        files = () if row[3] else tuple(self._batch_paths(row[0], row[1]))
        return Batch(*row, files=files)

    def labels(self) -> dict[str, dict[str, float]]:
        """Every label bought, per source: item id -> P(label 1) (0/1 from people)."""
        out: dict[str, dict[str, float]] = {s: {} for s in SOURCES}
        with self.db.read() as conn:
            for item_id, source, value in conn.execute("SELECT item_id, source, value FROM labels"):
                out[source][item_id] = value
        return out

    # ---------------------------------------------------------------- internals

    def _check_number(self, number: object, what: str) -> None:
        """A batch or classifier number SQLite can look up (a 64-bit positive integer)."""
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**63:
            raise ConfigError(f"there is no {what} #{number} in {self.folder}")

    def _pick(
        self, conn: sqlite3.Connection, n: int, strategy: str, scores: dict[str, float] | None
    ) -> list[str]:
        """Decide which free items to order (inside the transaction that orders them)."""
        free = ProjectDB.free_items(conn)
        if n > len(free):
            raise DataError(
                f"only {len(free)} item(s) are left to order (every other item has a label or is "
                f"in an open batch); order at most {len(free)}"
            )
        if strategy == "random":
            return [item_id for item_id, _, _ in free[:n]]
        from labelmix.train.sampling import uncertainty_choice

        assert scores is not None
        scored = [item_id for item_id, _, _ in free if item_id in scores]
        if n > len(scored):
            raise DataError("items appeared that the classifier did not score; run this again")
        probs = np.array([scores[i] for i in scored])
        rng = np.random.default_rng([self.seed, n])
        return [scored[j] for j in uncertainty_choice(probs, n, 0.0, rng)]

    def _uncertainty_scores(self) -> dict[str, float]:
        """P(label 1) under the latest classifier for every item that can still be ordered."""
        record = self.classifier_record(None)
        with self.db.read() as conn:
            free = ProjectDB.free_items(conn)
        clf = self.classifier(record.id)
        ids = [item_id for item_id, _, _ in free]
        if not ids:
            return {}
        probs = clf.predict_proba(self._texts(ids))
        return dict(zip(ids, probs.tolist(), strict=True))

    def _insert_batch(
        self,
        conn: sqlite3.Connection,
        source: str,
        strategy: str,
        labeler: str | None,
        picked: list[str],
        learned_from_gold: bool = False,
    ) -> int:
        price = self.price_micro(source)
        ProjectDB.check_affordable(conn, len(picked), price, source)
        cur = conn.execute(
            """INSERT INTO batches (source, strategy, labeler, learned_from_gold, price, n,
               status, created) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)""",
            (source, strategy, labeler, int(learned_from_gold), price, len(picked), now()),
        )
        batch_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO batch_items (batch_id, item_id) VALUES (?, ?)",
            [(batch_id, i) for i in picked],
        )
        ProjectDB.add_money(conn, batch_id, "reserve", len(picked), len(picked) * price)
        return batch_id

    def _batch_paths(self, batch_id: int, source: str) -> list[Path]:
        stem = self.folder / "batches" / f"batch-{batch_id:04d}-{source}"
        return [stem.with_name(stem.name + s) for s in (".csv", ".jsonl", ".labelstudio.json")]

    def _write_batch_files(self, batch: Batch) -> Batch:
        with self.db.read() as conn:
            rows = conn.execute(
                """SELECT i.id, i.text FROM batch_items bi JOIN items i ON i.id = bi.item_id
                   WHERE bi.batch_id = ? ORDER BY i.rank""",
                (batch.id,),
            ).fetchall()
        stem = f"batch-{batch.id:04d}-{batch.source}"
        formats.write_batch_files(self.folder / "batches", stem, batch.id, rows)
        return batch

    def _write_missing_batch_files(self) -> None:
        """A command killed between ordering a batch and writing its files left the order in the
        ledger: write its files again (they follow from the ledger alone)."""
        with self.db.read() as conn:
            open_ids = list(
                conn.execute(
                    "SELECT id, source FROM batches WHERE status = 'open' AND labeler IS NULL"
                )
            )
        for batch_id, source in open_ids:
            if not all(p.exists() for p in self._batch_paths(batch_id, source)):
                self._write_batch_files(self.batch(batch_id))

    def _texts(self, ids: Sequence[str]) -> list[str]:
        """The texts of items, in the order of `ids` (queried in chunks: SQLite caps the number
        of parameters of one statement)."""
        by_id: dict[str, str] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                by_id.update(
                    conn.execute(f"SELECT id, text FROM items WHERE id IN ({marks})", chunk)
                )
        return [by_id[i] for i in ids]

    @staticmethod
    def _labels_of(
        conn: sqlite3.Connection, source: str
    ) -> tuple[list[str], list[str], np.ndarray]:
        rows = conn.execute(
            """SELECT i.id, i.text, l.value FROM labels l JOIN items i ON i.id = l.item_id
               WHERE l.source = ? ORDER BY i.rank""",
            (source,),
        ).fetchall()
        return (
            [r[0] for r in rows],
            [r[1] for r in rows],
            np.array([r[2] for r in rows], np.float32),
        )

    def _bought(self) -> tuple[Bought, str, bool, int]:
        """Every item's text, the seeded order and the labels per source in that order; a digest
        of the labels; whether weak labels came from a machine that learnt from gold ones; and
        how many gold labels were ordered by uncertainty."""
        with self.db.read() as conn:
            items = conn.execute("SELECT pos, rank, text FROM items ORDER BY pos").fetchall()
            rows = conn.execute(
                """SELECT l.source, i.pos, l.value, l.item_id FROM labels l
                   JOIN items i ON i.id = l.item_id ORDER BY i.rank"""
            ).fetchall()
            from_gold = conn.execute(
                "SELECT COUNT(*) FROM batches WHERE source = 'weak' AND learned_from_gold = 1"
            ).fetchone()[0]
            by_uncertainty = conn.execute(
                """SELECT COUNT(*) FROM labels l JOIN batches b ON b.id = l.batch_id
                   WHERE l.source = 'gold' AND b.strategy = 'uncertainty'"""
            ).fetchone()[0]
        texts = [t for _, _, t in items]
        order = np.empty(len(items), dtype=np.int64)
        for pos, rank, _ in items:
            order[rank] = pos
        positions: dict[str, list[int]] = {s: [] for s in SOURCES}
        values: dict[str, list[float]] = {s: [] for s in SOURCES}
        for source, pos, value, _ in rows:
            positions[source].append(pos)
            values[source].append(value)
        labels = {s: np.array(values[s], dtype=np.float32) for s in SOURCES}
        digest = hashlib.sha256(repr([(r[3], r[0], r[2]) for r in rows]).encode()).hexdigest()
        return Bought(texts, order, positions, labels), digest, bool(from_gold), by_uncertainty

    def _claim_classifier_folder(self, method: str) -> tuple[Path, int]:
        """A fresh numbered folder, claimed by mkdir (atomic), so two trainings never share one;
        a number left by a training killed before it was recorded is skipped."""
        root = self.folder / "classifiers"
        root.mkdir(exist_ok=True)
        with self.db.read() as conn:
            number = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM classifiers").fetchone()[0])
        while True:
            number += 1
            folder = root / f"{number:04d}-{method}"
            if any(root.glob(f"{number:04d}-*")):
                continue
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder, number


def _check_order(source: str, n: int, strategy: str) -> None:
    if source not in SOURCES:
        raise ConfigError(f"source {source!r} must be 'gold' or 'weak'")
    if strategy == "advisor":
        raise ConfigError(
            "the budget advisor is not available yet: use --strategy random or uncertainty"
        )
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} must be random or uncertainty")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--n {n!r} must be a whole number of labels >= 1")


_LEFTOVER = f".{DB_NAME}.new"  # a database being made by init (and its journal)


def _as_text(path: Path) -> str:
    """A path as text the ledger can store: bytes of a file name that are not UTF-8 as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def _publish(tmp: Path, path: Path) -> None:
    """Put the finished database `tmp` at `path` unless something is there already (a project
    another init made meanwhile): a hard link fails rather than replace it. Then the folder is
    synced, so the project survives a crash of the machine too."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ConfigError(
            f"{path.parent} became a labelmix project while this one was being made; open it, "
            "or pick another folder"
        ) from None
    except OSError:  # a file system without hard links: the check and the rename are two steps
        if path.exists():
            raise ConfigError(f"{path.parent} is already a labelmix project") from None
        os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a system that cannot open folders (Windows): the rename is all it has
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _batch_status_of(conn: sqlite3.Connection, item_id: str, batch_id: int) -> str | None:
    """The status of batch `batch_id` if it ordered the item, else None."""
    row = conn.execute(
        """SELECT b.status FROM batch_items bi JOIN batches b ON b.id = bi.batch_id
           WHERE bi.item_id = ? AND bi.batch_id = ?""",
        (item_id, batch_id),
    ).fetchone()
    return row[0] if row else None


def _item_state(conn: sqlite3.Connection, item_id: str) -> dict[str, Any] | None:
    """Whether an item exists, its label if it has one, and its open batch if it is in one."""
    if conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
        return None
    label = conn.execute(
        "SELECT value, source FROM labels WHERE item_id = ?", (item_id,)
    ).fetchone()
    batch = conn.execute(
        """SELECT b.id, b.price FROM batch_items bi JOIN batches b ON b.id = bi.batch_id
           WHERE bi.item_id = ? AND b.status = 'open'""",
        (item_id,),
    ).fetchone()
    return {
        "label": label[0] if label else None,
        "source": label[1] if label else None,
        "open_batch": batch[0] if batch else None,
        "price": batch[1] if batch else None,
    }


def _classifier_row(conn: sqlite3.Connection, number: int | None) -> tuple[Any, ...] | None:
    query = """SELECT id, method, trainer, model, n_weak, n_gold, cv_accuracy, cv_low, cv_high,
                      cv_how, path, at, notes FROM classifiers"""
    if number is None:
        return conn.execute(query + " ORDER BY id DESC LIMIT 1").fetchone()
    return conn.execute(query + " WHERE id = ?", (number,)).fetchone()


def row_to_trained(folder: Path, row: tuple[Any, ...]) -> TrainedClassifier:
    number, method, trainer, model, n_weak, n_gold, acc, low, high, how, path, at, notes = row
    return TrainedClassifier(
        id=number,
        method=method,
        trainer=trainer,
        model=model,
        n_weak=n_weak,
        n_gold=n_gold,
        accuracy=acc,
        accuracy_ci=(low, high) if acc is not None else None,
        estimated_how=how,
        path=folder / path,
        created=at,
        notes=tuple(n for n in notes.split("\n") if n),
    )


def _advice(s: Status) -> str:
    """What to do next, by simple rules (the budget advisor will replace them)."""
    left, reserved = s.money["left"], s.money["reserved"]
    folder = s.folder
    if s.open_batches:
        b = s.open_batches[0]
        where = f" ({b.files[0]})" if b.files else ""
        return (
            f"import the labels of batch #{b.id}{where} with `labelmix project import {folder} "
            f"FILE`, or release what is left of it with `labelmix project close {folder} {b.id}`"
        )
    gold_price, weak_price = s.prices["gold"], s.prices["weak"]
    unlabelled = s.n_items - sum(s.counts.values())  # no open batch: each can be ordered
    if unlabelled == 0 or (left < min(gold_price, weak_price) and reserved == 0):
        spent = "every item has a label" if unlabelled == 0 else "the budget is spent"
        if s.latest is None or s.stale:
            return f"{spent}: train on what was bought (`labelmix project train {folder}`)"
        return f"{spent}; apply the classifier: `labelmix predict {s.latest.path} FILE`"
    n_gold = s.counts["gold"]
    if n_gold < MIN_GOLD_FOR_ESTIMATE and left >= gold_price:
        k = min(MIN_GOLD_FOR_ESTIMATE - n_gold, left // gold_price, unlabelled)
        return (
            f"buy gold labels (`labelmix project next {folder} --source gold --n {k}`): with "
            f"{MIN_GOLD_FOR_ESTIMATE} they train a weak labeler and estimate accuracy"
        )
    if not any(s.counts.values()):  # the budget buys no gold label: weak ones from a file
        k = min(left // weak_price, unlabelled)
        return (
            f"order weak labels from annotators (`labelmix project next {folder} --source weak "
            f"--n {k}`): the budget buys no gold label, and a machine labeler learns from them"
        )
    if s.latest is None or s.stale:
        return f"train on the labels bought: `labelmix project train {folder} --method seq_sft`"
    if s.counts["weak"] == 0 and left >= 100 * weak_price:
        k = min(left // weak_price, unlabelled)
        return (
            f"buy weak labels (`labelmix project next {folder} --source weak --n {k} --labeler "
            "minilm`); weak labels pay most when they are cheap and gold labels are few"
        )
    if left >= gold_price:
        k = min(left // gold_price, unlabelled)
        return (
            f"buy the gold labels the classifier is least sure of (`labelmix project next {folder} "
            f"--source gold --n {k} --strategy uncertainty`), then train again"
        )
    k = min(left // weak_price, unlabelled)
    return f"spend the rest on {k} weak labels, or keep it"

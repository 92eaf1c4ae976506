"""A labelling project's durable ledger: one SQLite file (stdlib sqlite3, WAL) holding the items,
the prices and budget, every batch ordered, every label received (source, price, time, origin),
every movement of money and the classifiers trained.

Why SQLite and why this shape:
- every change is one IMMEDIATE transaction, so a process killed at any moment leaves all of a
  change or none of it, and two processes changing the project at once take turns (the second
  waits for the first, then decides on what the first committed: nothing is lost or doubled);
- synchronous=FULL: a committed label survives a crash of the machine too, not only of the process;
- money is integer micro-dollars, so spent + reserved + left equals the budget exactly;
- one label per item (its primary key): an item is bought once, so it can be charged only once;
- money moves only as rows of `money` (reserve when a batch is ordered, charge when its labels
  arrive, release when it is closed with items unlabelled), and `check` proves that those rows
  agree with the labels and batches."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelmix.errors import BudgetError, ConfigError, DataError, LabelmixError

DB_NAME = "project.sqlite"
SCHEMA_VERSION = 1
MICRO = 1_000_000  # micro-dollars per dollar
BUSY_TIMEOUT_S = 60.0  # how long a command waits for another one that holds the project

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    pos INTEGER NOT NULL UNIQUE,   -- place in the data the project was made from
    rank INTEGER NOT NULL UNIQUE,  -- place in the project's seeded order
    text TEXT NOT NULL
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('weak', 'gold')),
    strategy TEXT NOT NULL,
    labeler TEXT,                  -- the machine that labelled it, NULL for annotators (a file)
    learned_from_gold INTEGER NOT NULL DEFAULT 0,  -- a machine that learnt from gold labels
    price INTEGER NOT NULL CHECK (price > 0),
    n INTEGER NOT NULL CHECK (n > 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created TEXT NOT NULL,
    closed TEXT
);
CREATE TABLE batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    item_id TEXT NOT NULL REFERENCES items(id),
    PRIMARY KEY (batch_id, item_id)
);
CREATE INDEX batch_items_item ON batch_items(item_id);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    n_new INTEGER NOT NULL,
    n_known INTEGER NOT NULL,
    charged INTEGER NOT NULL
);
CREATE TABLE labels (
    item_id TEXT PRIMARY KEY REFERENCES items(id),
    source TEXT NOT NULL CHECK (source IN ('weak', 'gold')),
    value REAL NOT NULL CHECK (value >= 0 AND value <= 1),  -- P(label 1), 0 or 1 from people
    price INTEGER NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    import_id INTEGER REFERENCES imports(id),
    received TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX labels_batch ON labels(batch_id);
CREATE TABLE money (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    kind TEXT NOT NULL CHECK (kind IN ('reserve', 'charge', 'release')),
    n INTEGER NOT NULL CHECK (n >= 0),
    amount INTEGER NOT NULL CHECK (amount >= 0)
);
CREATE INDEX money_batch ON money(batch_id);
CREATE TABLE classifiers (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    trainer TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_weak INTEGER NOT NULL,
    n_gold INTEGER NOT NULL,
    cv_accuracy REAL,
    cv_low REAL,
    cv_high REAL,
    cv_how TEXT,
    path TEXT NOT NULL,
    notes TEXT NOT NULL
);
"""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def to_micro(dollars: float, what: str) -> int:
    """Dollars as integer micro-dollars; a positive finite amount that is a whole number of
    micro-dollars (no price or budget needs finer, and sums of them stay exact)."""
    if isinstance(dollars, bool) or not isinstance(dollars, int | float):
        raise ConfigError(f"{what} {dollars!r} must be a number of dollars")
    if not (dollars > 0 and math.isfinite(dollars)):
        raise ConfigError(f"{what} {dollars!r} must be a positive number of dollars")
    micro = round(dollars * MICRO)
    # the slack is float rounding (1e-16 relative), not a quiet rounding of what was asked
    if micro < 1 or abs(micro - dollars * MICRO) > 0.01 + 1e-13 * abs(dollars * MICRO):
        raise ConfigError(f"{what} ${dollars!r} must be a whole number of millionths of a dollar")
    return micro


def usd(micro: int) -> str:
    """$12.50 for whole cents, $0.0025 below them."""
    if micro % 10_000 == 0:
        return f"${micro / MICRO:,.2f}"
    return f"${micro / MICRO:,.6f}".rstrip("0")


class ProjectDB:
    """The connection to one project's database, with the write and read transactions every
    change and every report goes through."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # isolation_level=None: no transaction the sqlite3 module opens (or commits) on its
            # own; every transaction is the explicit BEGIN of write() or read(). mode=rw: a
            # missing file is an error, never a new empty database.
            self.conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=rw",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
            )
        except sqlite3.Error as e:
            raise _db_error(path, e) from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as e:
            self.conn.close()
            raise _db_error(path, e) from None
        if version != SCHEMA_VERSION:
            self.conn.close()
            raise DataError(
                f"{path} is not a labelmix project database of version {SCHEMA_VERSION} "
                f"(found version {version}); open it with the labelmix that made it"
            )

    @staticmethod
    def create(
        path: Path, meta: dict[str, Any], ids: list[str], texts: list[str], ranks: list[int]
    ) -> None:
        """Write a new database at `path` in one transaction; the caller then links it into place,
        so a half-made project never looks like a project."""
        try:
            conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as e:
            raise _db_error(path, e) from None
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in meta.items()],
            )
            conn.executemany(
                "INSERT INTO items (id, pos, rank, text) VALUES (?, ?, ?, ?)",
                [
                    (i, pos, r, t)
                    for pos, (i, t, r) in enumerate(zip(ids, texts, ranks, strict=True))
                ],
            )
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise _db_error(path, e) from None
        finally:
            conn.close()

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One change, all or nothing. BEGIN IMMEDIATE takes the write lock before anything is
        read, so what the change decides on cannot be changed by another process meanwhile."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _db_error(self.path, e) from None
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise _db_error(self.path, e) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reports: every query inside sees the same committed state."""
        try:
            self.conn.execute("BEGIN")
        except sqlite3.OperationalError as e:
            raise _db_error(self.path, e) from None
        try:
            yield self.conn
        except sqlite3.Error as e:
            raise _db_error(self.path, e) from None
        finally:
            self._rollback()  # nothing was written: ending the snapshot is all it does

    # ---- queries used inside a transaction (they take the connection the transaction yields)

    @staticmethod
    def meta(conn: sqlite3.Connection) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}

    @staticmethod
    def money(conn: sqlite3.Connection) -> dict[str, int]:
        """budget, spent, reserved and left, in micro-dollars, from the money rows alone."""
        budget = int(
            json.loads(conn.execute("SELECT value FROM meta WHERE key='budget'").fetchone()[0])
        )
        sums = dict.fromkeys(("reserve", "charge", "release"), 0)
        for kind, amount in conn.execute(
            "SELECT kind, COALESCE(SUM(amount), 0) FROM money GROUP BY kind"
        ):
            sums[kind] = int(amount)
        spent = sums["charge"]
        reserved = sums["reserve"] - sums["charge"] - sums["release"]
        return {
            "budget": budget,
            "spent": spent,
            "reserved": reserved,
            "left": budget - spent - reserved,
        }

    @staticmethod
    def check_affordable(conn: sqlite3.Connection, n: int, price: int, what: str) -> None:
        """Refuse (BudgetError) an order of n labels at `price` that the budget left cannot pay."""
        m = ProjectDB.money(conn)
        cost = n * price
        if cost > m["left"]:
            most = m["left"] // price
            raise BudgetError(
                f"{n} {what} labels at {usd(price)} cost {usd(cost)} but only {usd(m['left'])} of "
                f"the {usd(m['budget'])} budget is left ({usd(m['spent'])} spent, "
                f"{usd(m['reserved'])} reserved by open batches); order at most {most}"
                + (", or close an open batch to release its reservation" if m["reserved"] else "")
            )

    @staticmethod
    def add_money(conn: sqlite3.Connection, batch_id: int, kind: str, n: int, amount: int) -> None:
        conn.execute(
            "INSERT INTO money (at, batch_id, kind, n, amount) VALUES (?, ?, ?, ?, ?)",
            (now(), batch_id, kind, n, amount),
        )

    @staticmethod
    def free_items(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
        """(id, pos, rank) of the items that can still be ordered, in the project's order: those
        without a label and outside every open batch (an item is bought once, from one source)."""
        return list(
            conn.execute(
                """SELECT id, pos, rank FROM items
                   WHERE id NOT IN (SELECT item_id FROM labels)
                     AND id NOT IN (SELECT bi.item_id FROM batch_items bi
                                    JOIN batches b ON b.id = bi.batch_id WHERE b.status = 'open')
                   ORDER BY rank"""
            )
        )

    @staticmethod
    def close_if_done(conn: sqlite3.Connection, batch_id: int) -> bool:
        """Close an open batch whose every item is labelled; True if it is closed now."""
        row = conn.execute(
            """SELECT b.n, b.status, (SELECT COUNT(*) FROM labels l WHERE l.batch_id = b.id)
               FROM batches b WHERE b.id = ?""",
            (batch_id,),
        ).fetchone()
        n, status, labelled = row
        if status == "open" and labelled == n:
            conn.execute(
                "UPDATE batches SET status = 'closed', closed = ? WHERE id = ?", (now(), batch_id)
            )
            return True
        return status == "closed"

    @staticmethod
    def check(conn: sqlite3.Connection) -> list[str]:
        """Every invariant of the ledger that a crash or a race could break; [] when it holds."""
        problems: list[str] = []
        m = ProjectDB.money(conn)
        labelled_total = conn.execute("SELECT COALESCE(SUM(price), 0) FROM labels").fetchone()[0]
        if m["spent"] != labelled_total:
            problems.append(f"charged {usd(m['spent'])} but the labels cost {usd(labelled_total)}")
        if m["reserved"] < 0 or m["left"] < 0:
            problems.append(f"money out of range: {m}")
        rows = conn.execute(
            """SELECT b.id, b.n, b.price, b.status,
                      (SELECT COUNT(*) FROM batch_items bi WHERE bi.batch_id = b.id),
                      (SELECT COUNT(*) FROM labels l WHERE l.batch_id = b.id),
                      (SELECT COUNT(*) FROM labels l WHERE l.batch_id = b.id
                         AND (l.price != b.price OR l.source != b.source
                              OR l.item_id NOT IN (SELECT item_id FROM batch_items x
                                                   WHERE x.batch_id = b.id)))
               FROM batches b"""
        ).fetchall()
        for batch_id, n, price, status, n_items, n_labels, n_odd in rows:
            sums = dict.fromkeys(("reserve", "charge", "release"), (0, 0))
            for kind, cnt, amount in conn.execute(
                "SELECT kind, SUM(n), SUM(amount) FROM money WHERE batch_id = ? GROUP BY kind",
                (batch_id,),
            ):
                sums[kind] = (int(cnt), int(amount))
            where = f"batch {batch_id}"
            if n_items != n:
                problems.append(f"{where}: {n_items} items recorded for an order of {n}")
            if n_odd:
                problems.append(f"{where}: {n_odd} labels that do not match the batch")
            if sums["reserve"] != (n, n * price):
                problems.append(f"{where}: reserved {sums['reserve']} for {n} at {price}")
            if sums["charge"] != (n_labels, n_labels * price):
                problems.append(f"{where}: charged {sums['charge']} for {n_labels} labels")
            held = sums["reserve"][1] - sums["charge"][1] - sums["release"][1]
            expect = (n - n_labels) * price if status == "open" else 0
            if held != expect:
                problems.append(f"{where} ({status}): {held} still reserved, expected {expect}")
            if status == "open" and n_labels == n:
                problems.append(f"{where}: every item labelled but still open")
        twice = conn.execute(
            """SELECT COUNT(*) FROM (SELECT bi.item_id FROM batch_items bi
               JOIN batches b ON b.id = bi.batch_id WHERE b.status = 'open'
               GROUP BY bi.item_id HAVING COUNT(*) > 1)"""
        ).fetchone()[0]
        if twice:
            problems.append(f"{twice} items are in two open batches")
        return problems


def _db_error(path: Path, e: sqlite3.Error) -> LabelmixError:
    """sqlite's errors as one line a user can act on."""
    text = str(e)
    if "locked" in text or "busy" in text:
        return DataError(
            f"the project database {path} is busy: another labelmix command has held it for "
            f"{BUSY_TIMEOUT_S:g} s; wait for it to finish, then run this again"
        )
    if "not a database" in text or "malformed" in text:
        return DataError(f"{path} is damaged ({text}); restore it from a backup")
    return DataError(f"cannot use the project database {path}: {text}")

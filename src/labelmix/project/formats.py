"""Files in and out of a labelling project: the items it is made from (.jsonl, .csv, a `datasets`
split saved with `save_to_disk`, or columns in memory), the batch files annotators label (CSV,
JSONL and Label Studio tasks) and the label files they send back (CSV, JSONL, or Label Studio's
JSON export). Parsing collects every problem of a file, so one message can name them all."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelmix.atomic import atomic_write_bytes
from labelmix.errors import ConfigError, DataError
from labelmix.paths import read_text
from labelmix.tasks.base import text_id
from labelmix.tasks.user_file import parse_label

# Label Studio's labelling config for a batch (Settings > Labeling Interface > Code). The batch's
# tasks hold `data.text` and `data.id`; the choice is exported as the `label` result.
LABEL_STUDIO_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single" showInline="true">
    <Choice value="0"/>
    <Choice value="1"/>
  </Choices>
</View>
"""
LABEL_STUDIO_CONFIG_FILE = "labelstudio-config.xml"
DEFAULT_NAMES: Mapping[str, int] = {"0": 0, "1": 1}
# The batch files say which batch each row was ordered in; an import checks it (a late file of a
# closed batch must not fill a later batch that ordered the same items, maybe from another source)
BATCH_FIELD = "batch"


# ---------------------------------------------------------------- items


@dataclass(frozen=True)
class Items:
    """The unlabelled items, deduplicated by id, in the order of the data."""

    ids: list[str]
    texts: list[str]
    notes: list[str]


def read_items(data: Any, text_field: str = "text", id_field: str | None = None) -> Items:
    """Items from a path (.jsonl, .csv, or a folder a `datasets` split was saved to) or from
    memory (a `datasets.Dataset`, a pandas DataFrame, a mapping of columns, a list of texts).
    Ids come from `id_field` (default: an `id` field when the data has one, else a hash of the
    text, as labelmix names examples everywhere). A repeated id with the same text counts once;
    with another text it is refused. A `label` field is ignored: labels come only from imports."""
    if isinstance(data, str | Path):
        columns, where = _read_columns(Path(data).expanduser()), str(data)
    elif isinstance(data, Sequence) and all(isinstance(t, str) for t in data):
        columns, where = {"text": list(data)}, "your texts"
        if text_field != "text":
            raise ConfigError("a list of texts has no fields: drop text_field")
    else:
        columns, where = _columns_in_memory(data), f"your {type(data).__name__}"
    if text_field not in columns:
        raise DataError(
            f"{where} has no field {text_field!r} (its fields: {', '.join(columns) or 'none'}); "
            "name the field of the texts with --text-field"
        )
    if id_field is None:
        id_field = "id" if "id" in columns else None
    elif id_field not in columns:
        raise DataError(
            f"{where} has no field {id_field!r} (its fields: {', '.join(columns)}); "
            "leave --id-field out to name items by a hash of their text"
        )
    texts = columns[text_field]
    raw_ids = columns[id_field] if id_field else [None] * len(texts)
    first: dict[str, str] = {}
    ids: list[str] = []
    kept: list[str] = []
    repeats = 0
    clashes: list[str] = []
    for i, (text, raw) in enumerate(zip(texts, raw_ids, strict=True)):
        row = f"{where}, row {i + 1}"
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{row}: {text_field!r} must be a non-empty string, got {text!r}")
        if not is_unicode(text):
            raise DataError(
                f"{row}: {text_field!r} holds a lone surrogate (\\ud800-\\udfff), not text"
            )
        item_id = text_id(text) if id_field is None else _id_value(raw, row, id_field)
        if item_id in first:
            if first[item_id] == text:
                repeats += 1
            else:
                clashes.append(item_id)
            continue
        first[item_id] = text
        ids.append(item_id)
        kept.append(text)
    if clashes:
        raise DataError(
            f"{where}: {len(clashes)} id(s) name two different texts (e.g. {clashes[0]!r}); "
            "give each item its own id"
        )
    if len(ids) < 2:
        raise DataError(f"{where} holds {len(ids)} item(s); a project needs at least 2")
    notes = []
    if repeats:
        notes.append(f"{repeats} repeated item(s) kept once")
    if "label" in columns:
        notes.append("the data's 'label' field is ignored: labels come only from imports")
    named = f"the {id_field!r} field" if id_field else "a hash of their text"
    notes.append(f"items named by {named}")
    return Items(ids, kept, notes)


def _id_value(raw: object, row: str, id_field: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise DataError(f"{row}: id field {id_field!r} must be a string or an integer, got {raw!r}")
    value = str(raw).strip()
    if not value:
        raise DataError(f"{row}: empty id in field {id_field!r}")
    if not is_unicode(value):
        raise DataError(f"{row}: id field {id_field!r} holds a lone surrogate, not text")
    return value


def is_unicode(text: str) -> bool:
    """Whether `text` can be stored (UTF-8): JSON's "\\ud800" escapes make strings that cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read_columns(path: Path) -> dict[str, list[Any]]:
    if path.is_dir():
        return _columns_in_memory(_load_saved_dataset(path))
    rows = read_rows(path, "data file")
    if not rows:
        raise DataError(f"data file {path} holds no rows (it is empty or only a header)")
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return {name: [row.get(name) for row in rows] for name in names}


def _load_saved_dataset(path: Path) -> Any:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # not a saved dataset, damaged files
        raise DataError(
            f"{path} is a folder but not a dataset saved with `save_to_disk` ({type(e).__name__}); "
            "give a .jsonl or .csv file, or such a folder"
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        raise DataError(
            f"{path} holds the splits {', '.join(ds)}: save the one split to label "
            "(dataset['train'].save_to_disk(...)) and give that folder"
        )
    return ds


def _columns_in_memory(data: Any) -> dict[str, list[Any]]:
    names = getattr(data, "column_names", None)  # datasets.Dataset
    if names is None and hasattr(data, "columns"):  # pandas.DataFrame
        names = list(data.columns)
    if names is None and isinstance(data, Mapping):
        names = list(data)
    if names is None:
        raise ConfigError(
            f"cannot read items from a {type(data).__name__}: give a path, a list of texts, a "
            "datasets.Dataset, a pandas DataFrame or a mapping of columns"
        )
    out = {str(n): list(data[n]) for n in names}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise DataError(f"the columns have different lengths {sorted(lengths)}")
    return out


def read_rows(path: Path, what: str) -> list[dict[str, Any]]:
    """The rows of a .jsonl or .csv file as dicts (a .json file holding a list of objects too)."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".json"):
        raise ConfigError(f"{what} {path} must end in .jsonl, .csv or .json")
    text = read_text(path, what)
    if suffix == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
            return [dict(r) for r in reader]
        except csv.Error as e:
            raise DataError(f"{path}: not a readable CSV ({e})") from None
    if suffix == ".json":
        value = _json(text, path)
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise DataError(f"{path}: a .json file must hold a list of objects")
        return value
    rows = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {i + 1}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {i + 1}: a JSON object expected")
        rows.append(row)
    return rows


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None


# ---------------------------------------------------------------- batch files


def write_batch_files(
    folder: Path, stem: str, batch_id: int, rows: Sequence[tuple[str, str]]
) -> list[Path]:
    """The files annotators label: `STEM.csv` (fill the empty `label` column), `STEM.jsonl` (set
    each `label`) and `STEM.labelstudio.json` (Label Studio tasks; see LABEL_STUDIO_CONFIG). Each
    row (task) also holds its batch number, which an import checks."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "text", "label", BATCH_FIELD])
    writer.writerows([i, t, "", batch_id] for i, t in rows)
    jsonl = "".join(
        json.dumps({"id": i, "text": t, "label": None, BATCH_FIELD: batch_id}, ensure_ascii=False)
        + "\n"
        for i, t in rows
    )
    tasks = json.dumps(
        [{"data": {"id": i, "text": t, BATCH_FIELD: batch_id}} for i, t in rows],
        ensure_ascii=False,
        indent=1,
    )
    paths = [folder / f"{stem}.csv", folder / f"{stem}.jsonl", folder / f"{stem}.labelstudio.json"]
    for path, content in zip(paths, (buf.getvalue(), jsonl, tasks + "\n"), strict=True):
        atomic_write_bytes(path, content.encode("utf-8"))
    config = folder / LABEL_STUDIO_CONFIG_FILE
    if not config.exists():
        atomic_write_bytes(config, LABEL_STUDIO_CONFIG.encode())
    return paths


# ---------------------------------------------------------------- label files


@dataclass
class Problems:
    """What is wrong with an import, by kind: a count and the first example of each."""

    kinds: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        entry = self.kinds.setdefault(kind, [0, example])
        entry[0] += 1

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def message(self, where: str) -> str:
        parts = [f"{n} {kind} (e.g. {example})" for kind, (n, example) in self.kinds.items()]
        total = sum(n for n, _ in self.kinds.values())
        return f"{where}: nothing imported, {total} problem(s): " + "; ".join(parts)


@dataclass(frozen=True)
class LabelRow:
    where: str  # "row 4", "task 3 annotation 2": how the message names it
    item_id: str
    value: int
    batch: int | None = None  # the batch the row says it was ordered in (the batch files do)


@dataclass
class LabelFile:
    """A file's labels, before they meet the project: rows with a valid 0/1 label, rows still
    without one (left open), and problems that the file alone shows."""

    kind: str
    rows: list[LabelRow] = field(default_factory=list)
    blank: int = 0
    cancelled: int = 0
    problems: Problems = field(default_factory=Problems)


def check_names(names: Mapping[str, int] | None) -> dict[str, int]:
    """Label names (e.g. {"sarcastic": 1, "not": 0}) with "0" and "1": each a non-empty name
    meaning 0 or 1; a name that reads as a number is refused, so "0" can never be made to mean 1."""
    out = dict(DEFAULT_NAMES)
    for name, value in (names or {}).items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"label name {name!r} must be a non-empty string")
        if isinstance(value, bool) or value not in (0, 1):
            raise ConfigError(f"label name {name!r} must mean 0 or 1, not {value!r}")
        try:
            float(name)
        except ValueError:
            pass
        else:
            raise ConfigError(
                f"label name {name!r} is a number: numbers are labels themselves (0 or 1); "
                "name the choices your annotators picked, e.g. --positive Sarcastic"
            )
        out[name.strip()] = int(value)
    return out


def parse_label_value(raw: object, names: Mapping[str, int]) -> int | None:
    """0/1 from a label cell: a name in `names`, or what a task file accepts as a label (a bool,
    0/1 as a number or a numeric string); None if it is none of these (the caller reports it). A
    blank cell is handled before this."""
    if isinstance(raw, str) and raw.strip() in names:
        return names[raw.strip()]
    if isinstance(raw, str | int | float):
        try:
            return parse_label(raw, "")
        except DataError:
            return None
    return None


def is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def read_label_file(
    path: Path,
    id_field: str = "id",
    label_field: str = "label",
    names: Mapping[str, int] | None = None,
) -> LabelFile:
    """The labels in a CSV, a JSONL, or a Label Studio JSON export (a list of tasks with
    `annotations`). `names` maps label names to 0/1 besides "0" and "1"."""
    names = check_names(names)
    if path.suffix.lower() == ".json":
        value = _json(read_text(path, "label file"), path)
        if (
            isinstance(value, list)
            and value
            and all(isinstance(t, dict) and "data" in t for t in value)
        ):
            return _label_studio(value, id_field, label_field, names)
    rows = read_rows(path, "label file")
    out = LabelFile(kind={".csv": "CSV", ".jsonl": "JSONL"}.get(path.suffix.lower(), "JSON"))
    if not rows:
        raise DataError(f"label file {path} holds no rows (it is empty or only a header)")
    fields_seen: dict[str, None] = {}
    for row in rows:
        fields_seen.update(dict.fromkeys(row))
    for name, what in ((id_field, "--id-field"), (label_field, "--label-field")):
        if name not in fields_seen:
            raise DataError(
                f"{path} has no {name!r} field (its fields: {', '.join(map(str, fields_seen))}); "
                f"the batch files name items by 'id' and take the label in 'label': give those "
                f"columns, or name yours with {what}"
            )
    for i, row in enumerate(rows):
        where = f"row {i + 1}"
        batch = _batch_value(out, where, row.get(BATCH_FIELD))
        _add_row(out, where, row.get(id_field), row.get(label_field), names, batch)
    return out


def _batch_value(out: LabelFile, where: str, raw: object) -> int | None:
    """The batch number a row carries (None: it carries none, as a file of your own may not)."""
    if is_blank(raw):
        return None
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**63:
        return raw
    out.problems.add(f"'{BATCH_FIELD}' values that are not batch numbers", f"{where}: {raw!r}")
    return None


def _add_row(
    out: LabelFile,
    where: str,
    raw_id: object,
    raw: object,
    names: Mapping[str, int],
    batch: int | None = None,
) -> None:
    if is_blank(raw_id):
        out.problems.add("rows without an id", where)
        return
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        out.problems.add("ids that are not strings", f"{where}: {raw_id!r}")
        return
    if isinstance(raw_id, str) and not is_unicode(raw_id):
        out.problems.add("ids that are not text (a lone surrogate)", f"{where}: {raw_id!r}")
        return
    if is_blank(raw):
        out.blank += 1
        return
    value = parse_label_value(raw, names)
    if value is None:
        out.problems.add("labels outside {0, 1}", f"{where}: {raw!r}")
        return
    out.rows.append(LabelRow(where, str(raw_id).strip(), value, batch))


def _label_studio(
    tasks: list[dict[str, Any]], id_field: str, label_field: str, names: Mapping[str, int]
) -> LabelFile:
    """Label Studio's JSON export: each task's `data` holds the item id; each annotation that is
    not cancelled holds one `choices` result (from_name `label_field`, or the only one)."""
    out = LabelFile(kind="Label Studio export")
    for t, task in enumerate(tasks):
        data = task.get("data")
        where = f"task {t + 1}"
        raw_id = data.get(id_field) if isinstance(data, dict) else None
        batch = _batch_value(out, where, data.get(BATCH_FIELD)) if isinstance(data, dict) else None
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            out.problems.add("tasks whose annotations are not a list", where)
            continue
        done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
        out.cancelled += len(annotations) - len(done)
        if not done:
            out.blank += 1
            continue
        if is_blank(raw_id):
            out.problems.add(f"tasks without data.{id_field}", where)
            continue
        for a, annotation in enumerate(done):
            here = f"{where} annotation {a + 1}"
            result = annotation.get("result")
            results = [
                r
                for r in (result if isinstance(result, list) else [])
                if isinstance(r, dict) and r.get("type") == "choices"
            ]
            named = [r for r in results if r.get("from_name") == label_field]
            chosen = named or results
            if len(chosen) != 1:
                out.problems.add(
                    f"annotations without exactly one '{label_field}' choice",
                    f"{here}: {len(chosen)}",
                )
                continue
            value = chosen[0].get("value")
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or len(choices) != 1:
                shown = choices if isinstance(value, dict) else value
                out.problems.add(
                    "annotations that choose other than one value", f"{here}: {shown!r}"
                )
                continue
            _add_row(out, here, raw_id, choices[0], names, batch)
    return out

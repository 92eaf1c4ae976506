"""The README's "Label your own data" walkthrough, run as written on real headlines with the
bundled models: each `labelmix` line of its block is run as is, and the one step a person does
(annotators filling the batch's label column) is done by a scripted annotator answering the
dataset's labels."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import time
from pathlib import Path

import pytest
from cli_helpers import lm

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = (
    Path(os.environ["LABELMIX_DATA_DIR"])
    if os.environ.get("LABELMIX_DATA_DIR")
    else ROOT.parent / "shared" / "data"
)
HEADLINES = DATA_DIR / "user" / "sarcasm_headlines.jsonl"
N_ITEMS = 600
# minutes on a CPU (the bundled SmolLM2 trains seq_sft with 5-fold cross-validation): the slow tier
pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- project-walkthrough -->\s*```bash\n(.*?)```", text, re.S)
    assert m, "README.md lost its project walkthrough (marked <!-- project-walkthrough -->)"
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


def annotate(batch_csv: Path, truth: dict[str, int]) -> None:
    """What the annotators do: fill the label column of the batch file, in place."""
    with batch_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["label"] = str(truth[row["text"]])
    with batch_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.skipif(not HEADLINES.is_file(), reason=f"{HEADLINES} not found (../shared/data)")
def test_readme_label_your_own_data_walkthrough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [json.loads(line) for line in HEADLINES.read_text().splitlines()[: N_ITEMS + 5]]
    truth = {r["text"]: int(r["label"]) for r in rows}
    Path("unlabelled.jsonl").write_text(
        "".join(json.dumps({"text": r["text"]}) + "\n" for r in rows[:N_ITEMS])
    )
    Path("new_texts.txt").write_text("".join(r["text"] + "\n" for r in rows[N_ITEMS:]))
    outputs: dict[str, str] = {}
    t0 = time.perf_counter()
    for line in walkthrough():
        if line.startswith("#"):
            continue  # the annotators' step: done below, just before the import that needs it
        args = shlex.split(line, comments=True)
        assert args[0] == "labelmix", line
        if args[1:3] == ["project", "import"]:
            annotate(Path(args[4]), truth)
        t = time.perf_counter()
        out = lm(*args[1:])
        print(f"{time.perf_counter() - t:6.1f} s  {line}")
        assert out.code == 0, (line, out.stdout, out.stderr)
        outputs[" ".join(args[1:3])] = out.stdout
    elapsed = time.perf_counter() - t0
    print(f"walkthrough: {elapsed:.0f} s")
    assert "40 new label(s), charged $40.00" in outputs["project import"]
    assert "leans optimistic" in outputs["project train"]  # weak labels learnt from the gold
    status = outputs["project status"]
    assert "spent $48.00, reserved $0.00, left $2.00" in status, status
    assert "gold 40 at $1.00 ($40.00), weak 400 at $0.02 ($8.00)" in status, status
    acc = re.search(r"estimated accuracy (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\]", status)
    assert acc is not None, status
    predictions = [json.loads(x) for x in outputs["predict my-classifier"].splitlines()]
    assert len(predictions) == 5 and all(p["label"] in (0, 1) for p in predictions)

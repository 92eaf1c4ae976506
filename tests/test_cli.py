"""The command line as a user meets it: listings, and bad input that gives one clear line and
exit code 2, never a traceback, and nothing half-written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABELMIX_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "labelmix", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


def test_tasks_lists_every_task():
    out = lm("tasks")
    assert out.returncode == 0, out.stderr
    for name in [
        "cities",
        "boolq",
        "hellaswag",
        "sciq",
        "cola",
        "cosmos_qa",
        "quail",
        "social_i_qa",
        "paws",
        "mmlu",
        "anli_r2",
        "dream",
        "ethics_deontology",
        "ethics_justice",
        "sst2",
        "amazon_polarity",
        "piqa",
        "openbookqa",
        "quartz",
    ]:
        assert f"\n{name} " in "\n" + out.stdout, name


def test_tasks_show_cities():
    out = lm(
        "tasks",
        "show",
        "cities",
        "-n",
        "2",
        "--weak-train",
        "100",
        "--pool",
        "200",
        "--test",
        "100",
    )
    assert out.returncode == 0, out.stderr
    assert "pool" in out.stdout and "200 examples, 100 positive (50%)" in out.stdout
    assert out.stdout.count("--- id ") == 2


@pytest.mark.parametrize(
    "args,needle",
    [
        (["tasks", "show", "nope"], "unknown task 'nope'; valid tasks: amazon_polarity"),
        (["tasks", "show", "cola", "--data-dir", "/nonexistent-dir"], "does not exist"),
        (["run", "--method", "weak_only", "--gold-frac", "0.3"], "drop the gold fraction"),
        (["run", "--method", "bogus"], "unknown method 'bogus'"),
        (["run", "--budget", "-5"], "budget -5.0 must be a positive number"),
        (["run", "--budget", "0.01"], "cannot buy a single label"),
        (["run", "--gold-frac", "1.5"], "must lie in [0, 1]"),
        (["run", "--model", "/no/such/model/dir/"], "unknown model"),
        (["run", "--method", "few_shot", "--budget", "4"], "needs 8 gold labels"),
        (["run", "--weak-cost", "-1"], "weak cost"),
        (["sweep", "no-such.toml"], "does not exist"),
        (["report", "/tmp"], "not a sweep store"),
        (["merge", "/tmp/lm-merge-dest-never-made", "/tmp"], "/tmp is not a sweep store"),
    ],
)
def test_bad_input_is_one_clear_line(args, needle, tmp_path):
    out = lm(*args, "--out", str(tmp_path / "o")) if args[0] in ("run",) else lm(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_malformed_sweep_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'tasks=["cities"]\nmethods=["seq_sft"]\nbudgets=[16]\ngold_fracs=[1.5]\n'
        "weak_costs=[0.1]\nseeds=[0]\n"
    )
    out = lm("sweep", str(bad), "--out", str(tmp_path / "s"))
    assert out.returncode == 2
    assert "gold_fracs" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "s").exists()


def test_weak_cost_above_gold_warns(tmp_path):
    out = lm("sweep", "configs/demo.toml", "--plan", "--weak-costs", "2.0")
    assert "never pay" in out.stderr


def test_the_demo_config_ships_inside_the_package():
    """`labelmix demo` reads its grid from the installed package (a wheel has no configs/
    folder); configs/demo.toml in a checkout is the same file."""
    import importlib.resources
    from pathlib import Path

    from labelmix.sweep import SweepConfig

    packaged = Path(str(importlib.resources.files("labelmix") / "data" / "demo.toml"))
    sweep = SweepConfig.load(packaged)
    assert sweep.tasks == ("cities",) and len(sweep.runs()) == 220
    checkout = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
    assert checkout.resolve() == packaged.resolve()

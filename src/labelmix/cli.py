"""`labelmix`: the command line. Errors a user can fix print one clear line and exit 2."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
import os
import sys
import time
import warnings
from dataclasses import MISSING
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, NoReturn

import typer

from labelmix.config import RunConfig
from labelmix.errors import LabelmixError, LabelmixWarning
from labelmix.tasks.splits import SplitSizes

# Defaults come from the dataclasses, so the CLI and the library cannot drift apart (read from
# the fields: building a RunConfig would check the bundled models at import).
RUN = SimpleNamespace(
    **{f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not MISSING}
)
SIZES = SplitSizes()

app = typer.Typer(
    help="Spend a labelling budget well: weak vs gold labels, elicitation methods, frontiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="List tasks, or show one.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Local mirror laid out as <hub id with / -> __>/<config>/<split>.jsonl "
        "(default: $LABELMIX_DATA_DIR, else the Hugging Face Hub).",
    ),
]
# The split sizes, shared by every command that loads a task's splits.
WeakTrain = Annotated[
    int, typer.Option(help="Gold labels that train the weak labeler (a sunk cost, not budgeted).")
]
# `run` and `advise` (the advice's pilot buys from the labeler its run will use).
WeakLabelerFlag = Annotated[
    str,
    typer.Option(
        "--weak-labeler",
        help="Where weak labels come from: probe | finetune | prompt | column | "
        "column:FIELD | column:PATH.jsonl|csv[:FIELD] (see `labelmix weak-labels --help`).",
    ),
]
WeakModelFlag = Annotated[
    str | None,
    typer.Option(help="Model of the weak labeler (default: minilm; smollm2 for prompt)."),
]
PoolSize = Annotated[int, typer.Option("--pool", help="Unlabelled examples a budget can buy.")]
TestSize = Annotated[
    int, typer.Option("--test", help="Held-out examples for the reported metrics.")
]
SelectSize = Annotated[
    int,
    typer.Option("--select", help="Labelled examples, never charged, that choices are made on."),
]


def _fail(msg: str) -> NoReturn:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _data_dir(data_dir: Path | None) -> Path | None:
    if data_dir is not None:
        return data_dir
    env = os.environ.get("LABELMIX_DATA_DIR")
    return Path(env) if env else None


def _require_store(path: Path) -> None:
    """Commands that read a store refuse a folder without runs/ (opening a Store would make one)."""
    if not (path / "runs").is_dir():
        _fail(f"{path} is not a sweep store (no runs/ folder); run `labelmix sweep` first")


def _int_list(flag: str, text: str) -> list[int]:
    """A comma-separated list of integers from a flag, or the flag's error."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        _fail(f"{flag} {text!r} must be comma-separated integers")


def _sizes(weak_train: int, pool: int, test: int, select: int = SIZES.select) -> SplitSizes:
    return SplitSizes(weak_train=weak_train, pool=pool, test=test, select=select)


# ---------------------------------------------------------------- tasks


@tasks_app.callback()
def tasks_list(ctx: typer.Context) -> None:
    """Every task with its source."""
    if ctx.invoked_subcommand is not None:
        return
    from labelmix.tasks import all_tasks

    width = max(len(n) for n in all_tasks())
    for name, spec in all_tasks().items():
        typer.echo(f"{name:<{width}}  {spec.source:<34}  {spec.description}")


@tasks_app.command("show")
def tasks_show(
    name: str,
    n: Annotated[int, typer.Option("-n", help="Examples to print.")] = 5,
    data_dir: DataDir = None,
    seed: int = 0,
    weak_train: WeakTrain = SIZES.weak_train,
    pool: PoolSize = SIZES.pool,
    test: TestSize = SIZES.test,
) -> None:
    """Split sizes, label balance and a few binarized examples."""
    from labelmix.tasks import get_task, load_splits

    if n < 0:
        _fail(f"-n {n} must be >= 0")
    spec = get_task(name)
    splits = load_splits(spec, _data_dir(data_dir), _sizes(weak_train, pool, test), seed)
    typer.echo(f"task {name}: {spec.description}\nsource: {spec.source}")
    for note in splits.notes:
        if note != spec.source:
            typer.echo(f"note: {note}")
    for split, examples in (
        ("weak_train", splits.weak_train),
        ("pool", splits.pool),
        ("select", splits.select),
        ("test", splits.test),
    ):
        pos = sum(e.label for e in examples)
        typer.echo(
            f"{split:<10} {len(examples):>6} examples, {pos} positive ({pos / max(1, len(examples)):.0%})"
        )
    for e in splits.pool[:n]:
        typer.echo(f"\n--- id {e.id}  label {e.label}\n{e.text}")


# ---------------------------------------------------------------- weak labels


WeakLabelerOpt = Annotated[
    str,
    typer.Option(
        "--labeler",
        help="probe | finetune | prompt | column (the file task's field weak_label) | "
        "column:FIELD | column:PATH.jsonl|csv[:FIELD] (your own weak labels, by text or id).",
    ),
]


@app.command("weak-labels")
def weak_labels(
    task: str = "cities",
    labeler: WeakLabelerOpt = "probe",
    weak_model: Annotated[
        str | None,
        typer.Option(help="Model of the labeler (default: minilm; smollm2 for prompt)."),
    ] = None,
    data_dir: DataDir = None,
    seed: int = 0,
    weak_train: WeakTrain = SIZES.weak_train,
    pool: PoolSize = SIZES.pool,
    test: TestSize = SIZES.test,
) -> None:
    """Make (or load cached) weak labels; report accuracy, AUROC and calibration against gold."""
    from labelmix.labels.weak import check_labeler, default_weak_model, weak_label_quality
    from labelmix.metrics import bootstrap_ci
    from labelmix.models.loading import check_model_name
    from labelmix.tasks import get_task, load_splits
    from labelmix.train.weak_labeler import make_weak_labeler

    t0 = time.perf_counter()
    model = weak_model or default_weak_model(labeler)
    check_labeler(labeler, task, model)
    check_model_name(model)
    splits = load_splits(get_task(task), _data_dir(data_dir), _sizes(weak_train, pool, test), seed)
    weak = make_weak_labeler(labeler, task, model, splits, price=0.0, seed=seed)
    r = weak.report
    assert r is not None
    lines = [f"weak labels for {task}: {r.labeler}{' [cached]' if r.cached else ''}"]
    for name, split, what in (
        ("pool", splits.pool, "what a budget buys"),
        ("test", splits.test, "reported only, never chosen on"),
    ):
        y = [e.label for e in split]
        p = weak.peek([e.id for e in split])
        q = weak_label_quality(y, p)
        lo, hi = bootstrap_ci(y, p - 0.5, "accuracy", seed=seed)
        lines.append(
            f"{name} ({len(split)}, {what}): accuracy {q['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] "
            f"(P > 0.5), AUROC {q['auroc']:.3f}, Brier {q['brier']:.3f}, ECE {q['ece']:.3f}"
        )
    lines.append(
        f"time {time.perf_counter() - t0:.1f} s (making the labels {r.time_s:.1f} s when first "
        "computed)"
    )
    typer.echo("\n".join(lines))


@app.command("signal")
def signal_cmd(
    task: str,
    labelers: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated weak labelers to measure (see weak-labels --labeler); "
            "default probe,prompt, or the --config's weak labeler."
        ),
    ] = None,
    weak_model: Annotated[
        str | None, typer.Option(help="Model of the probe and finetune labelers (minilm).")
    ] = None,
    prompt_model: Annotated[
        str | None, typer.Option(help="Causal LM of the prompt labeler (smollm2).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help=f"The strong model (probe trainer; {RUN.model}).")
    ] = None,
    gold_counts: Annotated[
        str, typer.Option(help="Gold label counts for the strong model; the whole pool is added.")
    ] = "16,64,256,1024",
    config: Annotated[
        Path | None,
        typer.Option(
            help="A sweep config: check the task at its split sizes, strong model, weak labeler "
            "and seeds, i.e. as the sweep will study it."
        ),
    ] = None,
    data_dir: DataDir = None,
    seed: Annotated[int | None, typer.Option(help="The seed whose splits are checked (0).")] = None,
    seeds: Annotated[
        str | None,
        typer.Option(help="Comma-separated seeds: one check each, then the verdict over them."),
    ] = None,
    weak_train: Annotated[
        int | None, typer.Option(help="Gold labels that train the weak labeler (600).")
    ] = None,
    pool: Annotated[int | None, typer.Option(help="Unlabelled examples (2000).")] = None,
    test: Annotated[int | None, typer.Option(help="Held-out examples (500).")] = None,
    select: Annotated[int | None, typer.Option(help="Selection examples (300).")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
) -> None:
    """Can TASK show the quantity/quality trade-off? Weak-label accuracy of each labeler, the
    strong model's gold-only accuracy up to its ceiling, and a yes / no / undecided verdict."""
    from labelmix.analysis.signal import (
        SIGNAL_SIZES,
        overall_verdict,
        signal_check,
        verdict_over_seeds,
    )
    from labelmix.atomic import atomic_write_json

    counts = _int_list("--gold-counts", gold_counts)
    if any(c < 1 for c in counts):
        _fail(f"--gold-counts {gold_counts!r} must be positive")
    if json_out is not None and json_out.is_dir():
        _fail(f"--json {json_out} is a folder; give a file path")
    if seed is not None and seeds is not None:
        _fail("give --seed or --seeds, not both")
    seed_list = [0 if seed is None else seed]
    if seeds is not None:
        seed_list = list(dict.fromkeys(_int_list("--seeds", seeds)))
        if not seed_list:
            _fail("--seeds names no seed")
    given = {"weak_train": weak_train, "pool": pool, "test": test, "select": select}
    given = {k: v for k, v in given.items() if v is not None}
    if config is not None:
        from labelmix.sweep import SweepConfig

        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            _fail(f"{flags} and --config both set split sizes: give one of them")
        if not config.is_file():
            _fail(f"sweep config {config} does not exist")
        sweep = SweepConfig.load(config, {})
        sizes = sweep.split_sizes
        model = model or sweep.model
        labelers = labelers or sweep.weak_labeler
        weak_model = weak_model or sweep.weak_model
        if seed is None and seeds is None:
            seed_list = list(sweep.seeds)
    else:
        sizes = dataclasses.replace(SIGNAL_SIZES, **given)
    specs = [s.strip() for s in (labelers or "probe,prompt").split(",") if s.strip()]
    named = {"probe": weak_model, "finetune": weak_model, "prompt": prompt_model}
    data = _data_dir(data_dir)
    reports = []
    for s in seed_list:
        report = signal_check(
            task,
            labelers=specs,
            weak_models={kind: m for kind, m in named.items() if m},
            strong_model=model or RUN.model,
            gold_counts=counts,
            sizes=sizes,
            seed=s,
            data_dir=str(data) if data else None,
        )
        typer.echo(report.to_text() + ("\n" if len(seed_list) > 1 else ""))
        reports.append(report.to_dict())
    if len(reports) == 1:
        if json_out is not None:
            atomic_write_json(json_out, reports[0])
        return
    pooled = verdict_over_seeds(reports)
    typer.echo(f"over seeds {', '.join(map(str, seed_list))} (mean; 95% interval over seeds):")
    for v in pooled:
        typer.echo(
            f"  {v.labeler}: weak {v.weak_accuracy:.3f} [{v.weak_ci[0]:.3f}, {v.weak_ci[1]:.3f}], "
            f"ceiling - weak {v.headroom:+.3f} [{v.headroom_ci[0]:+.3f}, {v.headroom_ci[1]:+.3f}]"
            f" -> {v.verdict} (per seed: {', '.join(v.seed_verdicts)})"
        )
    typer.echo(f"verdict over seeds: {overall_verdict([v.verdict for v in pooled])}")
    if json_out is not None:
        atomic_write_json(
            json_out, {"checks": reports, "over_seeds": [dataclasses.asdict(v) for v in pooled]}
        )


# ---------------------------------------------------------------- one run


def summary_line(r: dict[str, Any]) -> str:
    acc = f"accuracy {r['accuracy']:.3f} [{r['accuracy_ci_low']:.3f}, {r['accuracy_ci_high']:.3f}]"
    extra = f" (raw log-odds>0: {r['raw_accuracy']:.3f})" if "raw_accuracy" in r else ""
    sel = r.get("selection_accuracy")
    sel_text = f" | selection split {sel:.3f}" if sel is not None else ""
    line = (
        f"{r['task']} {r['method']} ({r['trainer']}, {r['model']}) budget ${r['budget']:g} "
        f"gold_frac {r['gold_frac']:g} weak ${r['weak_cost']:g}: {r['n_weak']} weak + "
        f"{r['n_gold']} gold labels, ${r['spent']:.2f} spent | test {acc}{extra} AUROC "
        f"{r['auroc']:.3f}{sel_text} | {r['time_s']:.1f} s"
    )
    if r.get("pool_limited"):
        line += (
            f"\nnote: the pool ({r['n_pool']} examples) cannot serve this allocation "
            f"({r['alloc_n_weak']} weak + {r['alloc_n_gold']} gold): weak labels were capped, so "
            f"${r['budget'] - r['spent']:.2f} of the budget is unspent. Raise --pool or lower the "
            "budget."
        )
    return line


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    task: str = RUN.task,
    method: str = RUN.method,
    budget: float = RUN.budget,
    weak_cost: float = RUN.weak_cost,
    gold_cost: float = RUN.gold_cost,
    gold_frac: Annotated[
        float | None,
        typer.Option(help="Share of the budget for gold labels (not for weak_only/gold_only)."),
    ] = None,
    trainer: Annotated[
        str, typer.Option(help="probe | lora (few_shot always uses icl)")
    ] = RUN.trainer,
    model: str = RUN.model,
    weak_labeler: WeakLabelerFlag = RUN.weak_labeler,
    weak_model: WeakModelFlag = None,
    seed: int = RUN.seed,
    shots: Annotated[int | None, typer.Option(help="k for few-shot methods.")] = None,
    layer: Annotated[int | None, typer.Option(help="probe: hidden layer of the features.")] = None,
    data_dir: DataDir = None,
    weak_train: WeakTrain = SIZES.weak_train,
    pool: PoolSize = SIZES.pool,
    test: TestSize = SIZES.test,
    select: SelectSize = SIZES.select,
    max_steps: Annotated[
        int | None, typer.Option(help="Cap optimizer steps per stage (short CPU checks).")
    ] = None,
    example_passes: Annotated[
        int | None, typer.Option(help="Example-passes per stage (default 30000).")
    ] = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Steps between early-stopping checks.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the JSON result.")] = None,
    save_model: Annotated[
        Path | None,
        typer.Option(help="Save the trained classifier here (use with `labelmix predict`)."),
    ] = None,
    advice: Annotated[
        Path | None,
        typer.Option(
            help="Follow an advice (the JSON of `labelmix advise --json`): its plan on the same "
            "pool, training on the pilot's labels instead of buying them again."
        ),
    ] = None,
) -> None:
    """One run: prints a one-line summary and writes its JSON result."""
    from dataclasses import replace

    from labelmix.labels.weak import default_weak_model
    from labelmix.methods import get_method

    if advice is not None:
        from labelmix.analysis.advisor import Advice

        # The advice sets these; only where the data lives, the schedule and the outputs mix.
        plan_options = (
            "task method budget weak_cost gold_cost gold_frac trainer model weak_labeler "
            "weak_model seed shots layer weak_train pool test select"
        ).split()
        given = [
            f"--{name.replace('_', '-')}"
            for name in plan_options
            if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        if given:
            _fail(f"--advice sets the run's plan and pool: drop {', '.join(given)}")
        cfg = Advice.load(advice).run_config()
        if data_dir is not None:
            cfg = cfg.with_(data_dir=str(data_dir))
    else:
        if gold_frac is None and get_method(method).fixed_gold_frac is None:
            gold_frac = RUN.gold_frac
        cfg = RunConfig(
            task=task,
            method=method,
            budget=budget,
            gold_frac=gold_frac,
            weak_cost=weak_cost,
            gold_cost=gold_cost,
            trainer=trainer,
            model=model,
            weak_model=weak_model or default_weak_model(weak_labeler),
            weak_labeler=weak_labeler,
            seed=seed,
            shots=shots,
            layer=layer,
            split_sizes=_sizes(weak_train, pool, test, select),
            data_dir=str(_data_dir(data_dir)) if _data_dir(data_dir) else None,
        )
    m = get_method(cfg.method)
    sched_changes = {
        k: v
        for k, v in dict(
            max_steps=max_steps,
            example_passes=example_passes,
            batch_size=batch_size,
            lr=lr,
            eval_every=eval_every,
        ).items()
        if v is not None
    }
    if sched_changes:
        cfg = cfg.with_(schedule=replace(cfg.effective_schedule(), **sched_changes))
    if save_model is not None and m.prompt_only:
        _fail("few_shot trains nothing, so there is no classifier to save; drop --save-model")
    cfg.check_buys_labels()
    # Every output place is checked before any work, so a finished run is never lost to a path.
    from labelmix.paths import check_output_dir

    out_dir = out or Path("labelmix-runs")
    check_output_dir(out_dir, "--out")
    if save_model is not None:
        check_output_dir(save_model, "--save-model")
    from labelmix.run import run_config  # heavy (torch): only once the config is valid

    output = run_config(cfg)
    result = output.record
    problems: list[str] = []
    saved: Path | None = None
    if save_model is not None:
        assert output.classifier is not None
        saved = _save_or_keep(output.classifier, save_model, problems)
        if saved is not None:
            result["saved_classifier"] = str(saved)
    typer.echo(summary_line(result))
    all_gold = result.get("method") == "gold_only"  # it trains on no weak label
    if result.get("n_pilot"):
        typer.echo(
            f"pilot: trained on the {'gold' if all_gold else 'gold and weak'} labels of the "
            f"advice's {result['n_pilot']} pilot items (${result['spent_pilot']:.2f} of the "
            f"${result['spent']:.2f}, charged once"
            + ("; their weak labels are not trained on)" if all_gold else ")")
        )
    elif result.get("n_weak_pilot"):
        typer.echo(
            f"weak pilot: {'bought, not trained on,' if all_gold else 'trained on'} the weak "
            f"labels of the advice's {result['n_weak_pilot']} weak pilot items "
            f"(${result['spent_pilot']:.2f} of the ${result['spent']:.2f}, charged once)"
        )
    if saved is not None:
        typer.echo(f"classifier: {saved} (apply it with `labelmix predict {saved} FILE`)")
    path = _write_or_keep(out_dir / f"{result['key']}.json", result, problems)
    typer.echo(f"result: {path}")
    if problems:
        _fail("; ".join(problems))


def _save_or_keep(classifier: Any, folder: Path, problems: list[str]) -> Path | None:
    """Save the classifier where asked or, if that fails after all (disk full, a folder that
    changed meanwhile), in a fresh temp folder, noting where in `problems`; None if both fail."""
    import tempfile

    try:
        classifier.save(folder)
        return folder
    except (OSError, LabelmixError) as e:
        why = f"cannot save the classifier to {folder} ({_why(e)})"
    try:
        kept = Path(tempfile.mkdtemp(prefix="labelmix-classifier-"))
        classifier.save(kept)
    except (OSError, LabelmixError) as e2:
        problems.append(f"{why}, nor to a temp folder ({_why(e2)})")
        return None
    problems.append(f"{why}; it is kept in {kept}")
    return kept


def _write_or_keep(path: Path, result: dict[str, Any], problems: list[str]) -> Path | str:
    """Write the result JSON where asked or, failing that, to a temp file, or as a last resort
    to stdout, noting where."""
    import tempfile

    from labelmix.atomic import atomic_write_json

    try:
        atomic_write_json(path, result)
        return path
    except OSError as e:
        why = f"cannot write the result to {path} ({_why(e)})"
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"labelmix-result-{result['key']}-", suffix=".json")
        os.close(fd)
        atomic_write_json(Path(tmp), result)
    except OSError:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        problems.append(f"{why}, nor to a temp file; it is printed above")
        return "printed above"
    problems.append(f"{why}; it is kept in {tmp}")
    return Path(tmp)


def _why(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


# ---------------------------------------------------------------- sweeps


@app.command("sweep")
def sweep_cmd(
    config: Annotated[Path, typer.Argument(help="Sweep TOML (see configs/).")],
    out: Annotated[Path, typer.Option(help="Store folder for this sweep.")] = Path("runs/sweep"),
    backend: Annotated[str, typer.Option(help="local | ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Parallel workers (local: processes, by default one per core for a grid of 16 "
            "or more probe runs; ray: CPUs)."
        ),
    ] = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="Print every run with labels and dollars; train nothing.")
    ] = False,
    report: Annotated[bool, typer.Option(help="Write the report when the sweep ends.")] = True,
    tasks: Annotated[str | None, typer.Option(help="Override: comma-separated tasks.")] = None,
    methods: Annotated[str | None, typer.Option(help="Override: comma-separated methods.")] = None,
    budgets: Annotated[str | None, typer.Option(help="Override: comma-separated budgets.")] = None,
    gold_fracs: Annotated[
        str | None, typer.Option(help="Override: comma-separated gold fractions.")
    ] = None,
    weak_costs: Annotated[
        str | None, typer.Option(help="Override: comma-separated weak costs.")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Override: comma-separated seeds.")] = None,
    trainer: Annotated[str | None, typer.Option(help="Override the trainer.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run a grid of runs into a resumable store, then write its report."""
    from labelmix.sweep import Store, SweepConfig, expand, plan_table, run_sweep
    from labelmix.sweep.backends import check_backend_options

    if backend not in ("local", "ray"):
        _fail(f"unknown backend {backend!r}; use local or ray")
    check_backend_options(backend, workers, address)  # all checked before a store exists
    if not config.is_file():
        _fail(f"sweep config {config} does not exist (see configs/demo.toml)")
    overrides = dict(
        tasks=tasks,
        methods=methods,
        budgets=budgets,
        gold_fracs=gold_fracs,
        weak_costs=weak_costs,
        seeds=seeds,
        trainer=trainer,
        data_dir=str(data_dir) if data_dir else None,
    )
    sweep = SweepConfig.load(config, overrides)
    runs = expand(sweep)
    skipped = sweep.unaffordable()
    if skipped:
        typer.secho(
            f"skipping {len(skipped)} grid point(s) the budget cannot pay for, e.g. {skipped[0]}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if plan:
        rows = plan_table(runs)
        for row in rows:
            if row.get("key") == "total":
                typer.echo(
                    f"total: {row['task']}, {row['n_weak']} weak + {row['n_gold']} gold labels, "
                    f"${row['dollars']:.2f}"
                )
            else:
                typer.echo(
                    f"{row['task']:<12} {row['method']:<16} {row['trainer']:<5} ${row['budget']:>7g} "
                    f"gold_frac {row['gold_frac'] if row['gold_frac'] is not None else '-':<5} "
                    f"weak ${row['weak_cost']:<5g} seed {row['seed']}: {row['n_weak']:>6} weak "
                    f"{row['n_gold']:>5} gold ${row['dollars']:.2f}"
                    + (f"  ({row['note']})" if row.get("note") else "")
                )
        return
    store = Store(out)
    summary = run_sweep(runs, store, backend=backend, workers=workers, address=address, sweep=sweep)
    typer.echo(str(summary))
    if report and summary.done + summary.skipped > 0:
        path = _write_report(store, out / "report", title=f"labelmix sweep {config.name}")
        typer.echo(f"report: {path}")
    _exit_if_failed(store, summary)


def _exit_if_failed(store: Any, summary: Any) -> None:
    """A sweep in which runs failed exits 1 (after its report), saying how many and where the
    errors are, so scripts and schedulers see it; rerunning the same command retries them."""
    if not summary.failed:
        return
    from collections import Counter

    errors: Counter[str] = Counter()
    for path in sorted(store.failed_dir.glob("*.json")):
        try:
            errors[(json.loads(path.read_text()).get("error") or "?").splitlines()[0]] += 1
        except (OSError, ValueError, AttributeError, IndexError):
            continue  # a damaged failure record still counts in summary.failed
    common = f"; most common error ({errors.most_common(1)[0][1]}x): " if errors else ""
    top = errors.most_common(1)[0][0][:300] if errors else ""
    typer.secho(
        f"error: {summary.failed} of {summary.total} runs failed; their errors and tracebacks "
        f"are in {store.failed_dir}/ (one JSON per run){common}{top}; rerun the same command "
        "to retry them",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(1)


def _write_report(store: Any, out: Path, title: str) -> Path:
    from labelmix.analysis.report import write_report
    from labelmix.paths import check_output_dir

    check_output_dir(out, "report folder")
    df = _finished_runs(store)
    meta = {"store": str(store.root)}
    return write_report(df, out, title=title, meta=meta)


def _finished_runs(store: Any) -> Any:
    """The store's finished runs, read now (its table is not rewritten: a store may be tracked
    by git); an empty store is a one-line error, not a report."""
    if not store.results():
        failed = len(store.failed_keys())
        where = f" ({failed} failed: see {store.failed_dir}/)" if failed else ""
        _fail(
            f"store {store.root} has no finished runs yet{where}; run `labelmix sweep` into it "
            "first"
        )
    return store.current_table()


@app.command("report")
def report_cmd(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep store folder.")],
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default SWEEP_DIR/report).")
    ] = None,
) -> None:
    """Frontier, regime figure, best-within-budget table and regimes: PNG, HTML and Markdown."""
    from labelmix.sweep import Store

    _require_store(sweep_dir)
    path = _write_report(
        Store(sweep_dir), out or sweep_dir / "report", title=f"labelmix {sweep_dir.name}"
    )
    typer.echo(f"report: {path}")


@app.command("merge")
def merge_cmd(
    into: Annotated[Path, typer.Argument(help="The store to merge into (created if absent).")],
    sources: Annotated[list[Path], typer.Argument(help="Stores whose finished runs to copy.")],
) -> None:
    """Merge sweep stores (e.g. one per machine) into one, then `labelmix report` it."""
    from labelmix.errors import LabelmixError
    from labelmix.sweep import Store

    for src in sources:  # all checked before anything is copied
        _require_store(src)
    dest = Store(into)
    for src in sources:
        try:
            n = dest.merge(Store(src))
        except LabelmixError as e:
            _fail(str(e))
        typer.echo(f"{src}: {n} run(s) copied into {into}")
    typer.echo(f"{into}: {len(dest.done_keys())} finished runs; `labelmix report {into}` next")


@app.command("recommend")
def recommend_cmd(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep store folder.")],
    budget: Annotated[float, typer.Option(help="Dollars you can spend.")],
    weak_cost: Annotated[float, typer.Option(help="Dollars per weak label.")] = 0.1,
    task: str | None = None,
) -> None:
    """How to split a budget between weak and gold labels, from a sweep's measurements."""
    from labelmix.analysis.report import recommend
    from labelmix.sweep import Store

    _require_store(sweep_dir)
    df = _finished_runs(Store(sweep_dir))
    try:
        rec = recommend(df, budget, weak_cost, task=task)
    except ValueError as e:
        _fail(str(e))
    typer.echo(rec.get("advice", json.dumps(rec, default=str)))


@app.command("advise")
def advise_cmd(
    budget: Annotated[float, typer.Option(help="Dollars you can spend, the pilot included.")],
    task: Annotated[str, typer.Option(help="A task name or file:PATH (.jsonl/.csv).")] = "cities",
    weak_cost: Annotated[float, typer.Option(help="Dollars per weak label.")] = 0.1,
    gold_cost: Annotated[float, typer.Option(help="Dollars per gold label.")] = 1.0,
    pilot_frac: Annotated[
        float, typer.Option(help="Most of the budget the pilot may spend (it may stop sooner).")
    ] = 0.05,  # advisor.DEFAULT_PILOT_FRAC (not imported: it pulls in torch)
    stores: Annotated[
        list[Path] | None,
        typer.Option(
            "--from", help="A study store to learn from; repeat for several (default: built-in)."
        ),
    ] = None,
    weak_labeler: WeakLabelerFlag = RUN.weak_labeler,
    weak_model: WeakModelFlag = None,
    seed: Annotated[int, typer.Option(help="Draws the splits and the pilot's items.")] = 0,
    data_dir: DataDir = None,
    weak_train: WeakTrain = SIZES.weak_train,
    pool: PoolSize = SIZES.pool,
    test: TestSize = SIZES.test,
    select: SelectSize = SIZES.select,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
) -> None:
    """How to split a budget before spending it: buys a small pilot (gold and weak labels of the
    same items, charged and reused), then predicts each allocation's accuracy from the stores.
    `labelmix run --advice FILE` follows the advice saved with --json."""
    from labelmix.analysis.advisor import advise, check_request
    from labelmix.labels.weak import check_labeler, default_weak_model

    check_request(budget, weak_cost, gold_cost, pilot_frac)
    weak_model = weak_model or default_weak_model(weak_labeler)
    check_labeler(weak_labeler, task, weak_model)  # as `labelmix run` does, before any work
    for store in stores or []:
        _require_store(store)
    where = _data_dir(data_dir)
    a = advise(
        task,
        budget=budget,
        weak_cost=weak_cost,
        gold_cost=gold_cost,
        pilot_frac=pilot_frac,
        stores=stores,
        weak_labeler=weak_labeler,
        weak_model=weak_model,
        seed=seed,
        data_dir=str(where) if where else None,
        split_sizes=_sizes(weak_train, pool, test, select),
    )
    if as_json:
        typer.echo(a.to_json())
        return
    p = a.pilot
    typer.echo(
        f"advice for {a.task}: ${a.budget:g}, weak labels ${a.weak_cost:g} ({a.weak_labeler}), "
        f"gold ${a.gold_cost:g}\n"
        f"  plan:      {a.method}, {_plan_labels(a)}"
        + f"\n  predicted: test accuracy {a.predicted_accuracy:.3f} "
        f"(90% interval for one run {a.interval[0]:.3f}-{a.interval[1]:.3f})\n"
        f"  pilot:     {p.n_items} items, ${p.cost:.2f} of the budget; {p.stopped}\n"
        + (
            f"  weak pilot: {p.n_weak_items} weak labels (${p.weak_cost_paid:.2f}, in the pilot's "
            "cost), their labeler's mean confidence "
            + (
                f"{p.weak_confidence:.2f} read for the weak labels' accuracy\n"
                if math.isfinite(p.weak_confidence)
                else "unread: hard labels (0 or 1)\n"
            )
            if p.n_weak_items
            else ""
        )
        + f"  learnt from: {a.prior_source}\n"
        f"  follow it: the same command with --json > advice.json, then "
        f"`labelmix run --advice advice.json` (the pilot's labels are reused, not bought again)"
        f"\n\n{a.reason}"
    )


def _plan_labels(a: Any) -> str:
    """The labels an advice buys, the pilots' included, and which of them it trains on."""
    from labelmix.analysis.advisor import pilots_name

    p = a.pilot
    owner = pilots_name(p)
    apostrophe = "'" if owner.endswith("s") else "'s"
    if a.method == "gold_only" and a.n_weak:
        return (
            f"{a.n_gold} gold labels"
            + (f" (the pilot's {p.n_items} included)" if p.n_items else "")
            + f"; {owner}{apostrophe} {a.n_weak} weak labels bought, not trained on"
        )
    return (
        f"{a.n_weak} weak + {a.n_gold} gold labels"
        + (f" (the pilot's {p.n_items} of each included)" if p.n_items else "")
        + (f" (the weak pilot's {p.n_weak_items} weak labels included)" if p.n_weak_items else "")
    )


@app.command("predict")
def predict_cmd(
    classifier: Annotated[Path, typer.Argument(help="Folder from `labelmix run --save-model`.")],
    input: Annotated[
        Path,
        typer.Argument(help=".jsonl with a 'text' field per line, or .txt, one text per line."),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write predictions here (.jsonl); default stdout.")
    ] = None,
) -> None:
    """Label new texts with a saved classifier: probability of label 1 and the label."""
    from labelmix.classifier import Classifier
    from labelmix.paths import check_output_file, read_text

    if not input.is_file():
        _fail(f"input {input} does not exist")
    if out is not None:
        check_output_file(out, "--out")
    clf = Classifier.load(classifier)
    texts: list[str] = []
    for i, line in enumerate(read_text(input, "input").splitlines()):
        if not line.strip():
            continue
        if input.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                _fail(f"{input}, line {i + 1}: not JSON")
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                _fail(f"{input}, line {i + 1}: needs a string field 'text'")
            texts.append(row["text"])
        else:
            texts.append(line)
    if not texts:
        _fail(f"input {input} holds no texts (it is empty or blank); give one text per line")
    probs = clf.predict_proba(texts)
    labels = (probs > 0.5).astype(int)
    lines = [
        json.dumps({"text": t, "p_label_1": round(float(p), 6), "label": int(y)})
        for t, p, y in zip(texts, probs, labels, strict=True)
    ]
    if out is None:
        typer.echo("\n".join(lines))
    else:
        from labelmix.atomic import atomic_write_bytes

        atomic_write_bytes(out, ("\n".join(lines) + "\n").encode())
        typer.echo(f"{len(lines)} predictions (label 1 at probability > 0.5): {out}")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the sweep store and its report.")] = Path(
        "labelmix-demo"
    ),
    backend: str = "local",
    workers: Annotated[
        int | None, typer.Option(help="Parallel workers (default: one per core, up to 8).")
    ] = None,
) -> None:
    """The main job: a CPU-sized sweep on `cities` with the offline defaults, then the report."""
    from labelmix.sweep import Store, SweepConfig, expand, run_sweep
    from labelmix.sweep.backends import check_backend_options

    check_backend_options(backend, workers, None)
    config = Path(str(importlib.resources.files("labelmix") / "data" / "demo.toml"))
    if not config.is_file():
        _fail(f"{config} is missing: reinstall labelmix (the demo config ships inside it)")
    t0 = time.perf_counter()
    sweep = SweepConfig.load(config, {})
    runs = expand(sweep)
    typer.echo(f"labelmix demo: {len(runs)} runs of {config.name} into {out}")
    store = Store(out)
    summary = run_sweep(runs, store, backend=backend, workers=workers, sweep=sweep)
    typer.echo(str(summary))
    if summary.done + summary.skipped == 0:
        _exit_if_failed(store, summary)
    path = _write_report(
        store, out / "report", title="labelmix demo: cities, SmolLM2 probe, MiniLM weak labels"
    )
    typer.echo(f"report: {path}\nfrontier: {out / 'report' / 'frontier.png'}")
    md = out / "report" / "regimes.md"
    if md.exists():
        typer.echo(md.read_text())
    typer.echo(f"demo finished in {time.perf_counter() - t0:.0f} s")
    _exit_if_failed(store, summary)


# ---------------------------------------------------------------- labelling projects

project_app = typer.Typer(
    help="Label your own data: order labels from annotators or a machine, import them, train.",
    no_args_is_help=True,
)
app.add_typer(project_app, name="project")
ProjectDir = Annotated[Path, typer.Argument(help="The project folder.")]


@project_app.command("init")
def project_init(
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder for the project.")],
    data: Annotated[
        Path,
        typer.Option(
            help="Unlabelled items: .jsonl, .csv, or a folder a datasets split was saved to."
        ),
    ],
    budget: Annotated[float, typer.Option(help="Dollars to spend on labels.")],
    weak_cost: Annotated[float, typer.Option(help="Dollars per weak label.")],
    gold_cost: Annotated[float, typer.Option(help="Dollars per gold label.")] = RUN.gold_cost,
    seed: Annotated[
        int, typer.Option(help="Draws the items' order (random batches follow it).")
    ] = 0,
    text_field: Annotated[str, typer.Option(help="The field holding each text.")] = "text",
    id_field: Annotated[
        str | None,
        typer.Option(
            help="The field naming each item (default: 'id' if present, else a text hash)."
        ),
    ] = None,
) -> None:
    """Make a project over unlabelled items, with its budget and prices."""
    from labelmix.project import Project

    with Project.init(
        folder,
        data,
        budget=budget,
        weak_cost=weak_cost,
        gold_cost=gold_cost,
        seed=seed,
        text_field=text_field,
        id_field=id_field,
    ) as project:
        status = project.status()
        notes = project.notes
    typer.echo(f"project {folder}: {status.n_items} items from {data} ({'; '.join(notes)})")
    typer.echo(status.lines()[1])
    typer.echo(f"next: {status.advice}")


@project_app.command("next")
def project_next(
    folder: ProjectDir,
    source: Annotated[str, typer.Option(help="gold | weak")],
    n: Annotated[int, typer.Option("--n", help="How many labels to order.")],
    strategy: Annotated[
        str,
        typer.Option(help="random (the project's seeded order) | uncertainty (latest classifier)."),
    ] = "random",
    labeler: Annotated[
        str | None,
        typer.Option(help="Weak labels from this model now, without a file (e.g. minilm)."),
    ] = None,
    labeler_kind: Annotated[
        str, typer.Option(help="probe (trained on the gold labels so far) | icl (few-shot).")
    ] = "probe",
    shots: Annotated[int, typer.Option(help="icl labeler: gold demonstrations.")] = 8,
) -> None:
    """Order labels (their price is reserved): a batch to annotate, or weak labels by --labeler."""
    from labelmix.project import Project

    if labeler is not None and source != "weak":
        _fail("--labeler makes weak labels; gold labels come from annotators (drop --labeler)")
    with Project.open(folder) as project:
        if labeler is not None:
            batch = project.buy_machine_weak_labels(
                n, labeler, kind=labeler_kind, strategy=strategy, shots=shots
            )
        else:
            batch = project.next_batch(source, n, strategy)
        left = project.status().money["left"]
    from labelmix.project.db import usd

    typer.echo(f"{batch.line()}; {usd(left)} of the budget left")
    if batch.files:
        typer.echo("label one of: " + ", ".join(str(p) for p in batch.files))
        typer.echo(
            f"then `labelmix project import {folder} FILE` (Label Studio: label config in "
            f"{folder / 'batches' / 'labelstudio-config.xml'}, import its JSON export)"
        )


@project_app.command("import")
def project_import(
    folder: ProjectDir,
    file: Annotated[
        Path, typer.Argument(help="Labels: CSV, JSONL, or a Label Studio JSON export.")
    ],
    id_field: Annotated[str, typer.Option(help="The field naming each item.")] = "id",
    label_field: Annotated[
        str, typer.Option(help="The field (Label Studio: the choices' name) of the label.")
    ] = "label",
    positive: Annotated[
        str | None, typer.Option(help="A label name that means 1 (besides '1').")
    ] = None,
    negative: Annotated[
        str | None, typer.Option(help="A label name that means 0 (besides '0').")
    ] = None,
) -> None:
    """Read labels back, check them all, charge what arrived (a re-import charges nothing)."""
    from labelmix.project import Project

    if positive is not None and positive == negative:
        _fail(f"--positive and --negative are both {positive!r}: a name means 1 or 0, not both")
    names = {k: v for k, v in ((positive, 1), (negative, 0)) if k is not None}
    with Project.open(folder) as project:
        report = project.import_labels(
            file, id_field=id_field, label_field=label_field, names=names
        )
    typer.echo("\n".join(report.lines()))


@project_app.command("close")
def project_close(
    folder: ProjectDir,
    batch: Annotated[int, typer.Argument(help="The batch number.")],
) -> None:
    """Stop waiting for a batch's missing labels; what was reserved for them is released."""
    from labelmix.project import Project

    with Project.open(folder) as project:
        closed = project.close_batch(batch)
        left = project.status().money["left"]
    from labelmix.project.db import usd

    typer.echo(f"{closed.line()}; closed, {usd(left)} of the budget left")


@project_app.command("train")
def project_train(
    folder: ProjectDir,
    method: str = "seq_sft",
    trainer: Annotated[str, typer.Option(help="probe | lora")] = RUN.trainer,
    model: str = RUN.model,
    folds: Annotated[
        int, typer.Option(help="Cross-validation folds over the gold labels (0: no estimate).")
    ] = 5,
    layer: Annotated[int | None, typer.Option(help="probe: hidden layer of the features.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Cap optimizer steps per stage (short CPU checks).")
    ] = None,
    save_model: Annotated[
        Path | None, typer.Option(help="Also save the classifier here (for `labelmix predict`).")
    ] = None,
) -> None:
    """Train a method on the labels bought, estimate its accuracy on the gold labels, save it."""
    from dataclasses import replace

    from labelmix.project import Project
    from labelmix.project.training import TrainSettings

    schedule = None
    if max_steps is not None:
        base = TrainSettings(method=method, trainer=trainer, model=model).effective_schedule()
        schedule = replace(base, max_steps=max_steps)
    with Project.open(folder) as project:
        trained = project.train(
            method,
            trainer=trainer,
            model=model,
            folds=folds,
            layer=layer,
            schedule=schedule,
            save_to=save_model,
        )
    typer.echo(trained.line())
    for note in trained.notes:
        typer.echo(f"note: {note}")
    where = save_model or trained.path
    typer.echo(f"classifier: {where} (apply it with `labelmix predict {where} FILE`)")


@project_app.command("status")
def project_status(folder: ProjectDir) -> None:
    """Spent, reserved and left; labels per source; open batches; the latest estimate; next."""
    from labelmix.project import Project

    with Project.open(folder) as project:
        status = project.status()
    typer.echo("\n".join(status.lines()))
    if status.problems:
        raise typer.Exit(1)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    warnings.simplefilter("default")

    def _warn(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if issubclass(category, LabelmixWarning):
            typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)

    warnings.showwarning = _warn
    try:
        app()
    except LabelmixError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)

"""Run a sweep's runs on a backend and record them in a store.

Backends only decide where a run executes: `local` (in this process, or a spawn process pool) or
`ray` (one remote task per run, on a local instance or a cluster). Results always come back to
this process, which alone writes the store, so every backend leaves the same store behind."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from labelmix.config import RunConfig
from labelmix.errors import ConfigError
from labelmix.sweep.grid import SweepConfig, describe_run
from labelmix.sweep.store import Store

RunFn = Callable[[RunConfig], dict[str, Any]]
BACKENDS = ("local", "ray")

# What a worker sends back: ("ok", result, seconds) or ("failed", (error, traceback), seconds).
Outcome = tuple[str, Any, float]


@dataclass(frozen=True)
class SweepSummary:
    """done: runs finished by this sweep; skipped: already in the store; failed: raised."""

    done: int
    skipped: int
    failed: int
    total: int
    time_s: float

    def __str__(self) -> str:
        return (
            f"{self.done} done, {self.skipped} already done, {self.failed} failed "
            f"of {self.total} runs in {self.time_s:.1f} s"
        )


def default_run_fn() -> RunFn:
    """The real run, imported only when needed (it pulls in torch and the models)."""
    from labelmix.run import execute_run

    return execute_run


def _is_real_run(fn: RunFn) -> bool:
    """Whether `fn` is labelmix's run (not a stand-in): only then are features worth prefetching
    and a grid worth a pool of workers."""
    return (getattr(fn, "__module__", None), getattr(fn, "__name__", None)) == (
        "labelmix.run",
        "execute_run",
    )


def call_run(run_fn: RunFn, config: RunConfig) -> Outcome:
    """Run one config, turning an exception into data so the sweep goes on. Executes wherever
    the backend puts it (this process, a pool worker, a Ray worker)."""
    start = time.perf_counter()
    try:
        result = run_fn(config)
        if not isinstance(result, dict):
            raise TypeError(f"the run function returned {type(result).__name__}, not a dict")
        return "ok", result, time.perf_counter() - start
    except Exception as e:
        err = f"{type(e).__name__}: {e}"
        return "failed", (err, traceback.format_exc()), time.perf_counter() - start


def _init_worker(parent_pid: int, threads: int) -> None:
    """Pool workers draw no bars of their own (they would tear through the sweep's bar), and die
    with the sweep: a killed parent must not leave workers blocked forever, holding memory. Each
    uses its share of the cores, so workers do not fight over threads."""
    os.environ["LABELMIX_PROGRESS"] = "0"
    die_with_parent(parent_pid)
    import torch

    torch.set_num_threads(threads)


def die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Exit this process as soon as `parent_pid` is gone: on Linux the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); everywhere, a daemon thread also polls os.getppid(), which
    changes when the parent dies and this process is re-parented."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the thread below still covers it
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="labelmix-parent-watch", daemon=True).start()


def check_backend_options(backend: str, workers: int | None, address: str | None) -> None:
    """The backend settings, checked before a store is created or anything runs."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers {workers} must be >= 1")
    if address is not None and backend != "ray":
        raise ConfigError("an address only makes sense with the ray backend; add --backend ray")


def _import_root(fn: Callable[..., Any]) -> str | None:
    """The sys.path entry `fn`'s module was imported from, so Ray workers can import it too.
    None for functions Ray pickles by value (__main__) or that live in installed packages."""
    mod = sys.modules.get(getattr(fn, "__module__", "") or "")
    file = getattr(mod, "__file__", None)
    if mod is None or file is None or mod.__name__ == "__main__":
        return None
    path = Path(file).resolve()
    depth = mod.__name__.count(".") + (1 if path.name == "__init__.py" else 0)
    root = path.parents[depth]
    if root.name in ("site-packages", "dist-packages"):
        return None
    return str(root)


class _Progress:
    """Runs done of total with the current run: a tqdm bar on a terminal, a plain line every few
    seconds otherwise (labelmix.progress); silent when disabled."""

    def __init__(self, total: int, skipped: int, enabled: bool) -> None:
        from labelmix.progress import progress, progress_mode

        self.enabled = enabled and progress_mode() != "off"
        self.bar: Any = None
        if self.enabled:
            self.bar = progress(total=total, desc="sweep", initial=skipped, unit="run", delay=0)

    def current(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=True)

    def advance(self, text: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)  # tqdm.write keeps a bar intact


def run_sweep(
    runs: Iterable[RunConfig],
    store: Store | str | Path,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    run_fn: RunFn | None = None,
    progress: bool = True,
    *,
    sweep: SweepConfig | None = None,
    ray_task_options: dict[str, Any] | None = None,
    prefetch: bool = True,
) -> SweepSummary:
    """Run every run not yet in the store, recording each as it finishes; then rebuild the table.

    local: workers 1 runs in this process, more uses a spawn process pool, None picks
    (auto_workers). ray: connects to `address`, or starts a local instance with `workers` CPUs
    (all when None), one task per run (`ray_task_options` go to `.options()`, e.g. {"num_gpus": 1}). A run that raises is written
    to failed/ and the sweep goes on. The store is locked for the whole sweep. With `prefetch`
    (and the real run function) the features and weak labelers the runs share are computed once
    up front (labelmix.prefetch)."""
    check_backend_options(backend, workers, address)
    store = store if isinstance(store, Store) else Store(store)
    unique = list({cfg.key(): cfg for cfg in runs}.values())
    fn = run_fn if run_fn is not None else default_run_fn()
    start = time.perf_counter()
    with store.lock():
        if sweep is not None:
            store.record_sweep(sweep.to_dict())
        done_before = store.done_keys()
        todo = [cfg for cfg in unique if cfg.key() not in done_before]
        skipped = len(unique) - len(todo)
        real = _is_real_run(fn)
        if prefetch and real and todo:
            _prefetch(todo, progress)
        bar = _Progress(len(unique), skipped, progress)
        done = failed = 0
        try:
            if backend == "local" and workers is None and real:
                workers = auto_workers(todo)
            if backend == "local" and (workers or 1) == 1:
                outcomes = _run_sequential(fn, todo, bar)
            elif backend == "local":
                outcomes = _run_pool(fn, todo, workers or 1)
            else:
                outcomes = _run_ray(fn, todo, workers, address, ray_task_options or {})
            with contextlib.closing(outcomes):  # stops workers / Ray even if recording fails
                for cfg, outcome in outcomes:
                    error = _record(store, cfg, outcome)
                    if error is None:
                        done += 1
                        bar.advance("done: " + describe_run(cfg))
                    else:
                        failed += 1
                        bar.write(f"failed: {describe_run(cfg)}: {error}")
                        bar.advance("failed: " + describe_run(cfg))
        finally:
            bar.close()
            store.rebuild_table()
    summary = SweepSummary(done, skipped, failed, len(unique), time.perf_counter() - start)
    if progress:
        print(f"sweep into {store.root}: {summary}", file=sys.stderr)
        if failed:
            print(
                f"  failed runs are in {store.failed_dir}; rerun the sweep to retry them",
                file=sys.stderr,
            )
    return summary


# A worker costs a few seconds to start (torch, transformers) and its own copy of the features:
# worth it for a grid of probe runs, not for a handful, and not for LoRA (a model per worker).
POOL_MIN_RUNS = 16
MAX_AUTO_WORKERS = 8


def auto_workers(todo: Sequence[RunConfig]) -> int:
    """Workers when none were asked for: one per core (up to MAX_AUTO_WORKERS) for a grid of at
    least POOL_MIN_RUNS probe runs, else one (in this process)."""
    if len(todo) < POOL_MIN_RUNS or any(cfg.trainer == "lora" for cfg in todo):
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def _prefetch(todo: Sequence[RunConfig], verbose: bool) -> None:
    """Shared features and weak labelers up front; on any failure the runs compute their own."""
    from labelmix.prefetch import prefetch

    try:
        report = prefetch(todo)
    except Exception as e:  # the runs meet the same problem and record it one by one
        print(
            f"prefetch skipped ({type(e).__name__}: {e}); runs compute their own", file=sys.stderr
        )
        return
    if verbose:
        print(str(report), file=sys.stderr)


def _record(store: Store, cfg: RunConfig, outcome: Outcome) -> str | None:
    """Write an outcome to the store; the error message when the run failed, else None."""
    status, payload, seconds = outcome
    if status == "ok":
        try:
            store.write_result(cfg, payload)
            return None
        except Exception as e:  # a result the store refuses is a failed run, not a dead sweep
            payload = (f"{type(e).__name__}: {e}", traceback.format_exc())
    error, tb = payload
    store.write_failure(cfg, error, tb, round(seconds, 3))
    return error


def _run_sequential(
    fn: RunFn, todo: Sequence[RunConfig], bar: _Progress
) -> Iterator[tuple[RunConfig, Outcome]]:
    for cfg in todo:
        bar.current("running: " + describe_run(cfg))
        yield cfg, call_run(fn, cfg)


def _run_pool(
    fn: RunFn, todo: Sequence[RunConfig], workers: int
) -> Iterator[tuple[RunConfig, Outcome]]:
    """A spawn pool (fork would copy torch/thread state); yields in completion order."""
    if not todo:
        return
    n = min(workers, len(todo))
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), max(1, (os.cpu_count() or 1) // n)),
    )
    try:
        pending: dict[Future[Outcome], RunConfig] = {
            pool.submit(call_run, fn, cfg): cfg for cfg in todo
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                cfg = pending.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as e:  # the worker died (killed, out of memory) or unpicklable
                    msg = f"{type(e).__name__}: {e} (the worker process failed, not the run code)"
                    outcome = ("failed", (msg, traceback.format_exc()), 0.0)
                yield cfg, outcome
    finally:
        # On an interrupt, runs not yet started are dropped; the ones running finish first.
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(
    fn: RunFn,
    todo: Sequence[RunConfig],
    workers: int | None,
    address: str | None,
    task_options: dict[str, Any],
) -> Iterator[tuple[RunConfig, Outcome]]:
    """One Ray task per run; the driver collects them with ray.wait as they complete."""
    if not todo:
        return
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs ray: pip install 'ray[default]'") from None

    we_init = not ray.is_initialized()
    if we_init and address:
        ray.init(address=address, log_to_driver=False)
    elif we_init:
        ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        # Workers import the run function by module name: give them the folder it came from.
        env_vars = {"LABELMIX_PROGRESS": "0"}
        root = _import_root(fn)
        if root is not None:
            paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            env_vars["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        options.update(task_options)
        runtime_env = dict(options.pop("runtime_env", None) or {})
        runtime_env["env_vars"] = {**env_vars, **runtime_env.get("env_vars", {})}
        remote = ray.remote(call_run).options(runtime_env=runtime_env, **options)
        fn_ref = ray.put(fn)
        pending = {remote.remote(fn_ref, cfg): cfg for cfg in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cfg = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as e:  # the worker died, or the task could not start
                    # Ray's message carries the remote traceback: keep its last line as the error.
                    lines = [ln for ln in str(e).splitlines() if ln.strip()] or [""]
                    msg = f"{type(e).__name__}: {lines[-1].strip()} (the Ray worker failed)"
                    outcome = ("failed", (msg, f"{e}\n\n{traceback.format_exc()}"), 0.0)
                yield cfg, outcome
    finally:
        if we_init:
            ray.shutdown()  # a local instance stops; a cluster is only disconnected from

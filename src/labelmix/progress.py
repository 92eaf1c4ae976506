"""One progress helper so every slow loop shows progress the same way, on stderr.

On a terminal: tqdm bars. Elsewhere (a log file, a pipe, CI): no bars, whose redraws would fill a
log with megabytes, but one plain line every LINE_INTERVAL_S seconds at most, and only for loops
that last that long. LABELMIX_PROGRESS=0 silences both (tests, pool workers); =1 forces bars."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

LINE_INTERVAL_S = 10.0


def progress_mode() -> str:
    """'bars' (a terminal, or LABELMIX_PROGRESS=1), 'lines' (no terminal) or 'off' (=0)."""
    env = os.environ.get("LABELMIX_PROGRESS", "").strip()
    if env == "0":
        return "off"
    if env == "1":
        return "bars"
    try:
        return "bars" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return "lines"


def progress_enabled() -> bool:
    """Whether bars are drawn (ours and the libraries')."""
    return progress_mode() == "bars"


class LineProgress:
    """The part of tqdm's interface labelmix uses, printing `desc: n/total (pct), elapsed` as a
    plain line at most every `interval` seconds; silent when `enabled` is False."""

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        initial: int = 0,
        unit: str = "it",
        enabled: bool = True,
        interval: float = LINE_INTERVAL_S,
    ) -> None:
        self.total, self.desc, self.n, self.unit = total, desc, initial, unit
        self.enabled = enabled
        self.interval = interval
        self.postfix = ""
        self.start = self._last = time.monotonic()
        self._printed = False

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        pct = f" ({self.n / self.total:.0%})" if self.total else ""
        tail = f" | {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {done}{pct}, {elapsed:.0f} s{tail}"

    def _emit(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._printed = True
            self._emit(self._line())

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def write(self, text: str, file: Any = None) -> None:
        if self.enabled:
            print(text, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self._printed:  # a loop that reported progress also reports its end
            self._emit(self._line() + " done")
        self.enabled = False


def progress(total: int | None = None, desc: str = "", **kw: Any) -> Any:
    """A tqdm bar on a terminal, a LineProgress otherwise (both silent when off)."""
    mode = progress_mode()
    if mode == "bars":
        from tqdm.auto import tqdm

        kw.setdefault("delay", 2.0)  # only loops that take a while show a bar
        return tqdm(
            total=total,
            desc=desc,
            disable=total is not None and total < 64,
            dynamic_ncols=True,
            leave=False,
            file=sys.stderr,
            **kw,
        )
    kw.pop("delay", None)
    return LineProgress(total=total, desc=desc, enabled=mode == "lines", **kw)


def quiet_libraries() -> None:
    """Silence the progress bars and info logs of transformers and datasets when ours are off."""
    if progress_enabled():
        return
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:
        pass


@contextlib.contextmanager
def quiet_gguf_conversion() -> Iterator[None]:
    """transformers draws its GGUF conversion bar with a bare tqdm that no setting reaches: give
    it a disabled one while ours are off (a log would otherwise get the bar's redraws)."""
    if progress_enabled():
        yield
        return
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original

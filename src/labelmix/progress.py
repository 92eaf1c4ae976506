"""One progress bar helper (tqdm) so every slow loop shows progress the same way. Bars go to
stderr and are disabled when LABELMIX_PROGRESS=0 (tests, workers)."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm


def progress_enabled() -> bool:
    return os.environ.get("LABELMIX_PROGRESS", "1") != "0"


def progress(total: int | None = None, desc: str = "", **kw: Any) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        disable=not progress_enabled() or (total is not None and total < 64),
        dynamic_ncols=True,
        leave=False,
        delay=2.0,  # only loops that take a while show a bar
        **kw,
    )


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

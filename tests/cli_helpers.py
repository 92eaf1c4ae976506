"""`labelmix ARGS` run in the test's own process (a subprocess costs seconds of imports): what a
user would see, as an exit code, stdout and stderr. A traceback that escapes is a failure of the
test, as it would be for a user."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from typing import NamedTuple
from unittest import mock


class Out(NamedTuple):
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def lm(*args: str) -> Out:
    from labelmix.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(),  # main() installs its own warning printer
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        mock.patch.object(sys, "argv", ["labelmix", *args]),
    ):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Out(code, out.getvalue(), err.getvalue())

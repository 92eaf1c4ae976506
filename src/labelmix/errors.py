"""User-facing errors: the CLI prints their message and exits non-zero, without a traceback."""


class LabelmixError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ConfigError(LabelmixError, ValueError):
    """A configuration value is invalid."""


class UnaffordableError(ConfigError):
    """A valid method at a budget too small for it (e.g. 8 demonstrations for $4). Sweeps skip
    such grid points and say so; a single run reports it as an error."""


class DataError(LabelmixError):
    """Input data is missing or malformed."""


class BudgetError(LabelmixError):
    """A purchase or allocation does not fit the budget."""


class TrainingError(LabelmixError):
    """Training went wrong in a way a setting can fix (e.g. the loss diverged)."""


class LabelmixWarning(UserWarning):
    """Something legal but probably not what the user meant (e.g. weak labels dearer than gold)."""

"""User-facing errors.

Every mistake a user can make (a bad spec, geometry that does not fit, a missing
dataset, a bad flag) is raised as a :class:`CnnkitError` whose message is one
readable line.  The CLI prints it to stderr and exits with status 2, never with a
traceback; the Python API lets it propagate like any exception.
"""


class CnnkitError(Exception):
    """A problem with the user's input, explained in one line."""


class SpecError(CnnkitError, ValueError):
    """A model spec that cannot be parsed or validated."""


class GeometryError(SpecError):
    """A layer whose window does not fit its input volume."""

"""The course's own exceptions: each message says what went wrong and what to do.

Every helper raises one of these instead of letting a traceback from deep inside
transformers reach the learner.
"""


class CourseError(Exception):
    """Base class: a mistake or a missing piece the learner can fix.

    >>> str(CourseError("max_new_tokens must be positive"))
    'max_new_tokens must be positive'
    """


class ModelNotAvailableError(CourseError):
    """The model asked for cannot be loaded here (no network, no cache, bad path)."""


class SetupError(CourseError):
    """A package or piece of hardware the request needs is missing."""

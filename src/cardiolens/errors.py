"""Errors a user can fix: shown as one message naming the file or key and the problem, no traceback.

Job scripts run inside :func:`cardiolens.logs.log_to`, which logs an :class:`InputError` as one
ERROR line and ends the job with exit status 1; any other exception is a bug and keeps its
traceback (in the job's log and on the terminal).
"""

from __future__ import annotations


class InputError(ValueError):
    """The inputs or the configuration cannot be used; the message says which and why."""


class StudyInputError(InputError):
    """A study's inputs give it nothing to learn from: no sample, or a class without samples."""

"""Tapis' ``inputMode`` values and the "not set" marker, shared by the records and the merge.

An app (or a system, for ``jobEnvVariables``) says with ``inputMode`` how a job request may use each of its
arguments, environment variables and file inputs; :mod:`dlws_flow.domain.merge` and
:mod:`dlws_flow.domain.file_inputs` apply it. A leaf module: the records import it, it imports nothing of ours.
"""

from __future__ import annotations

from enum import StrEnum

#: Tapis' value for "no value here yet": an app leaves an argument or variable for the request to give.
#: It never reaches a job: left as it is, a REQUIRED item is a 400 and any other is dropped.
TAPIS_NOT_SET = "!tapis_not_set"


class InputMode(StrEnum):
    """``inputMode`` of ``appArgs``, ``containerArgs``, ``schedulerOptions`` and ``envVariables``."""

    REQUIRED = "REQUIRED"
    """Always in the job; a request may change the value; no value after the merge is a 400."""
    FIXED = "FIXED"
    """Always in the job, exactly as defined; a request naming it may only repeat it."""
    INCLUDE_ON_DEMAND = "INCLUDE_ON_DEMAND"
    """In the job only when the request names it (without ``include: false``)."""
    INCLUDE_BY_DEFAULT = "INCLUDE_BY_DEFAULT"
    """In the job unless the request names it with ``include: false``."""


class FileInputMode(StrEnum):
    """``inputMode`` of ``fileInputs`` and ``fileInputArrays``."""

    REQUIRED = "REQUIRED"
    """Staged; without a source after the merge, the submission is a 400."""
    OPTIONAL = "OPTIONAL"
    """Staged when it has a source (the app's or the request's), else skipped. Tapis' default."""
    FIXED = "FIXED"
    """Staged exactly as the app defines it; a request naming it may only repeat it."""


def is_unset(value: str | None, *, blank_is_unset: bool = True) -> bool:
    """Whether ``value`` gives nothing: None, :data:`TAPIS_NOT_SET`, or (``blank_is_unset``) only spaces.

    An environment value may be the empty string, so the merge of ``envVariables`` passes
    ``blank_is_unset=False``; an argument or a URL that is blank gives nothing."""
    if value is None or value.strip() == TAPIS_NOT_SET:
        return True
    return blank_is_unset and not value.strip()

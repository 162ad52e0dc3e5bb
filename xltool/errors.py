"""The few fatal errors of xltool. Problems found inside a workbook are findings, not exceptions."""

from __future__ import annotations


class XltoolError(Exception):
    """Base class: a one-line message for the user, and the CLI exit code it stands for."""

    exit_code = 1


class SpecError(XltoolError):
    """A template spec is malformed; the message names the file and the place."""


class UsageError(XltoolError):
    """The command was asked for something it cannot do (bad roster, mixed formats, unsafe output)."""

    exit_code = 2

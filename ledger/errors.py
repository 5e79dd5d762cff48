"""Errors that reach the user as one line and an exit code."""


class BondledgerError(Exception):
    """An error the CLI reports as one line; `exit_code` is what the process exits with."""

    exit_code = 1


class InputError(BondledgerError):
    """Bad input (term sheet, file, address, amount): nothing was sent or written."""

    exit_code = 2


class NotFound(InputError):
    """Input naming an instrument, fund or investor the register does not have (the web answers 404)."""


class ChainError(BondledgerError):
    """The chain refused or could not be reached."""


class RegisterError(BondledgerError):
    """The register is missing something, or does not belong to this chain."""

"""The base of every error a user can fix: the CLI prints its message as one line and exits with code 2."""


class UserError(Exception):
    """Raised for bad input (files, options, environment) that the user can correct; never for bugs."""


class ModelLoadError(UserError, RuntimeError):
    """A model could not be loaded; the message says what to do."""

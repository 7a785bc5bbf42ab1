"""The errors a user sees: each names the file, line, key or setting at fault. The CLI prints them without a
traceback and exits with status 2."""


class OrcaRayError(Exception):
    """Base of every error meant for the user rather than for a developer."""


class ConfigError(OrcaRayError, ValueError):
    """A run config that cannot be loaded: names the file, the key path and what was expected."""


class ModelError(OrcaRayError, RuntimeError):
    """A model could not be resolved to a local directory."""


class DataError(OrcaRayError, ValueError):
    """Input data that cannot be read: names the file, the line and the reason."""


class TeacherError(OrcaRayError, RuntimeError):
    """The teacher backend failed (unreachable endpoint, refused key, unknown model)."""


class EngineError(OrcaRayError, RuntimeError):
    """A vLLM engine could not start or run (out of memory, bad settings): names the setting to change."""

"""The one error family ppslim raises for bad input; ``cli.main`` turns it into one line and exit 2."""


class PpslimError(Exception):
    """A problem the user can fix (bad config, missing file, refused artifact)."""


class ConfigError(PpslimError):
    """A config value is wrong. ``key_path`` names it the way the user wrote it (``Global.epochs``)."""

    def __init__(self, key_path: str, msg: str):
        self.key_path = key_path
        self.msg = msg
        super().__init__(f"{key_path}: {msg}" if key_path else msg)


class ArtifactError(PpslimError):
    """An input or output artifact is missing, malformed, or failed verification. ``reason`` is the message
    without the subject it names (``what``), when the raiser knows where that subject ends."""

    def __init__(self, msg: str, reason: str | None = None):
        self.reason = reason
        super().__init__(msg)


def refusal_reason(error: Exception) -> str:
    """Why an artifact was refused, without its subject: the error's ``reason``, else the message after its
    first ``": "`` (a subject may contain one itself, as ``PTQ (auto: hist)`` does: hence ``reason``)."""
    return getattr(error, "reason", None) or str(error).split(": ", 1)[-1]

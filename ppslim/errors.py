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
    """An input or output artifact is missing, malformed, or failed verification."""

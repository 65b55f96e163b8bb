"""Pick the TTS engine for a language, and the one that speaks when it fails.

Voices are pluggable by configuration: the router maps language codes to engines and
falls back to a default engine for any other language. A language whose voice is remote
(a speech server) has a *backup*, the embedded voice, that the TTS actor uses whenever the
server fails. Engines shared by several languages are loaded once.
"""

from __future__ import annotations

__all__ = ["TtsRouter"]

from collections.abc import Mapping

from actors.models.engines import EngineError, TtsEngine


class TtsRouter:
    """``engines`` maps a language code (``"en"``, ``"ko"``) to its engine; ``default``
    (optional) serves every other language; ``backups`` (optional) maps a language to the
    engine that speaks when its own fails. Lookups use the first part of a locale
    (``ko-KR`` -> ``ko``)."""

    def __init__(
        self,
        engines: Mapping[str, TtsEngine],
        default: TtsEngine | None = None,
        backups: Mapping[str, TtsEngine] | None = None,
    ):
        self._engines = {k.lower(): v for k, v in engines.items()}
        self._default = default
        self._backups = {k.lower(): v for k, v in (backups or {}).items()}

    @property
    def languages(self) -> list[str]:
        """Languages with a dedicated engine."""
        return sorted(self._engines)

    def engines(self) -> list[TtsEngine]:
        """Every distinct engine (dedicated ones first, then the default, then backups)."""
        seen: dict[int, TtsEngine] = {}
        for engine in [
            *self._engines.values(),
            *([self._default] if self._default else []),
            *self._backups.values(),
        ]:
            seen.setdefault(id(engine), engine)
        return list(seen.values())

    def load(self) -> None:
        """Load every distinct engine once."""
        for engine in self.engines():
            engine.load()

    @staticmethod
    def _code(language: str) -> str:
        return language.split("-", 1)[0].lower()

    def engine_for(self, language: str) -> TtsEngine:
        """The engine for ``language``; raises :class:`EngineError` if there is none."""
        engine = self._engines.get(self._code(language), self._default)
        if engine is None:
            raise EngineError(f"no TTS voice for language {language!r}")
        return engine

    def backup_for(self, language: str) -> TtsEngine | None:
        """The engine that speaks ``language`` when :meth:`engine_for`'s fails (None: none)."""
        return self._backups.get(self._code(language))

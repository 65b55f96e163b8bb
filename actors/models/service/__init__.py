"""The async model actors: each wraps one engine and serves one job kind from JetStream.

:mod:`.base` (thread bridge, workers, micro service, stats, stop), one module per actor
(:mod:`.stt`, :mod:`.llm`, :mod:`.tts` with :mod:`.tts_cache`, :mod:`.embed`). The engines
they wrap live in :mod:`actors.models.engines` (synchronous, no NATS) and
:mod:`actors.models.remote` (async HTTP clients of inference servers, no NATS).
"""

from __future__ import annotations

__all__ = [
    "STOP_GRACE_S",
    "STOP_WAIT_S",
    "EmbedActor",
    "LlmActor",
    "ModelActor",
    "RemoteLlmActor",
    "SttActor",
    "TtsActor",
]

from actors.models.service.base import STOP_GRACE_S, STOP_WAIT_S, ModelActor
from actors.models.service.embed import EmbedActor
from actors.models.service.llm import LlmActor
from actors.models.service.llm_remote import RemoteLlmActor
from actors.models.service.stt import SttActor
from actors.models.service.tts import TtsActor

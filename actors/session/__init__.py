"""The session actor's sans-I/O core: interview logic as a pure state machine.

Face of the package (everything a shell needs)::

    SessionCore            new / restore / handle / receive_audio / audio_to_analyze /
                           snapshot / set_seq_floor
    CoreConfig             every tunable
    inputs                 ClientInput, VoiceActivity, JobResultIn, Tick, TurnVerdict
    commands               Emit, EmitAudio, RequestJob, PersistTurn, PersistReport,
                           Snapshot, Deactivate, CheckTurn
    TurnRecord, Assessment what PersistTurn carries
    build_report           the report dict (pure)
"""

from __future__ import annotations

__all__ = [
    "PHRASES",
    "Assessment",
    "BankQuestionLike",
    "CheckTurn",
    "ClientInput",
    "Command",
    "CoreConfig",
    "Deactivate",
    "Emit",
    "EmitAudio",
    "Input",
    "JobResultIn",
    "PersistReport",
    "PersistTurn",
    "PhraseSource",
    "RequestJob",
    "SessionCore",
    "SessionState",
    "Snapshot",
    "Tick",
    "TurnRecord",
    "TurnVerdict",
    "VoiceActivity",
    "build_report",
    "default_phrases",
]

from actors.session.bank import BankQuestionLike
from actors.session.commands import (
    CheckTurn,
    Command,
    Deactivate,
    Emit,
    EmitAudio,
    PersistReport,
    PersistTurn,
    RequestJob,
    Snapshot,
)
from actors.session.config import CoreConfig
from actors.session.core import SessionCore
from actors.session.inputs import (
    ClientInput,
    Input,
    JobResultIn,
    Tick,
    TurnVerdict,
    VoiceActivity,
)
from actors.session.phrases import PHRASES, PhraseSource, default_phrases
from actors.session.report import build_report
from actors.session.state import Assessment, SessionState, TurnRecord

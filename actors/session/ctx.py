"""The working context of one ``handle()`` call: state, config, injected data, output.

Internal to the core. Every helper that emits, requests a job or changes the phase goes
through here, so sequence numbers, job-id uniqueness and phase events stay consistent.
"""

from __future__ import annotations

__all__ = ["Ctx"]

from collections.abc import Sequence

import msgspec

from actors.session.bank import BankQuestionLike
from actors.session.commands import Command, Deactivate, Emit, RequestJob, Snapshot
from actors.session.config import CoreConfig
from actors.session.phrases import PhraseSource, choose
from actors.session.state import PendingJob, Phase, Purpose, SessionState, Settings
from bus.events import ServerEvent, State
from bus.jobs import Job
from bus.subjects import JobKind


class Ctx:
    """State plus the command list being built. ``t`` is the core clock."""

    def __init__(
        self,
        state: SessionState,
        config: CoreConfig,
        bank: Sequence[BankQuestionLike],
        phrases: PhraseSource,
    ) -> None:
        self.st = state
        self.cfg = config
        self.bank = bank
        self.phrases = phrases
        self.out: list[Command] = []

    # --- time ------------------------------------------------------------------------

    @property
    def t(self) -> float:
        return self.st.clock

    def advance(self, now: float) -> None:
        """Move the core clock forward by the shell clock's progress (never backwards)."""
        st = self.st
        if st.last_now is not None and now > st.last_now:
            st.clock += now - st.last_now
        if st.last_now is None or now > st.last_now:
            st.last_now = now

    def shell_time(self, t: float) -> float:
        """Convert a core-clock time into the shell's ``now`` clock."""
        base = self.st.last_now if self.st.last_now is not None else 0.0
        return base + (t - self.st.clock)

    # --- output ----------------------------------------------------------------------

    def take(self) -> list[Command]:
        """The commands of this call. Snapshots are merged into one, placed after every
        other command (the shell serialises the state when it executes it, so it must
        come after the job requests it covers) and before a ``Deactivate``."""
        out, self.out = self.out, []
        snaps = [c for c in out if isinstance(c, Snapshot)]
        if not snaps:
            return out
        ends = [c for c in out if isinstance(c, Deactivate)]
        rest = [c for c in out if not isinstance(c, Snapshot | Deactivate)]
        reasons = ",".join(dict.fromkeys(s.reason for s in snaps if s.reason))
        return [*rest, Snapshot(reasons), *ends]

    def emit(self, event: ServerEvent) -> None:
        self.st.seq += 1
        self.out.append(Emit(msgspec.structs.replace(event, seq=self.st.seq)))

    def set_phase(self, phase: Phase) -> None:
        if self.st.phase != phase:
            self.st.phase = phase
            self.emit(State(state=phase))

    def snapshot(self, reason: str) -> None:
        self.out.append(Snapshot(reason))
        self.st.live.next_snapshot_at = self.t + self.cfg.snapshot_interval_s

    # --- jobs ------------------------------------------------------------------------

    def job_id(self, turn: int, kind: JobKind, label: str | int | None = None) -> str:
        base = f"{self.st.session_id}:{turn}:{kind}"
        return base if label is None else f"{base}:{label}"

    def request(
        self, job: Job, kind: JobKind, purpose: Purpose, timeout: float, ref: int = 0
    ) -> bool:
        """Publish ``job`` unless a live job already has its id (then count and skip)."""
        if job.job_id in self.st.jobs:
            self.st.counters.duplicate_jobs += 1
            return False
        deadline = self.t + timeout
        self.st.jobs[job.job_id] = PendingJob(
            kind=kind, purpose=purpose, deadline=deadline, requested_at=self.t, ref=ref
        )
        self.out.append(RequestJob(job, kind, self.shell_time(deadline)))
        return True

    def cancel(self, job_id: str) -> None:
        """Forget a live job: a result that still arrives counts as late and is ignored."""
        if job_id:
            self.st.jobs.pop(job_id, None)

    def tighten(self, job_id: str, timeout: float) -> None:
        """Bring a live job's deadline to at most ``timeout`` from now."""
        job = self.st.jobs.get(job_id)
        if job is not None and job.deadline > self.t + timeout:
            self.st.jobs[job_id] = msgspec.structs.replace(job, deadline=self.t + timeout)

    def live(self, purpose: Purpose) -> list[str]:
        return [jid for jid, j in self.st.jobs.items() if j.purpose == purpose]

    # --- plan data -------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        assert self.st.settings is not None, "interview not started"
        return self.st.settings

    def phrase(self, key: str) -> str:
        s = self.settings
        return choose(self.phrases, s.language, key, self.st.turn, s.role)

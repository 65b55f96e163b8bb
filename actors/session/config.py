"""Every tunable of the session core, in one frozen struct.

Durations are seconds (``*_s``) or milliseconds (``*_ms``) of the ``now`` clock the shell
passes in, except the endpointing ones, which are milliseconds of *audio* (counted in
frames, so a late or bursty VAD delivery does not change a decision).

Build one :class:`CoreConfig` per process (``msgspec.convert(mapping, CoreConfig)`` from a
config file works) and hand it to :meth:`SessionCore.new` / :meth:`SessionCore.restore`.
"""

from __future__ import annotations

__all__ = ["CoreConfig"]

import msgspec


class CoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Tunables of :class:`~actors.session.core.SessionCore`; every field has a default."""

    # --- audio in (16 kHz PCM16LE mono, cut in 512-sample frames by the shell) -----------
    sample_rate: int = 16000
    frame_samples: int = 512
    audio_queue_ms: int = 3000
    """Bound of the inbound audio queue; overflow drops the oldest audio (counted)."""
    speech_probability: float = 0.5
    """A VAD frame whose speech probability is at least this is speech."""

    # --- endpointing (milliseconds of audio) ---------------------------------------------
    speech_start_ms: int = 200
    """Speech needed to open an utterance while listening."""
    barge_in_ms: int = 300
    """Speech needed to interrupt the interviewer while a question plays."""
    preroll_ms: int = 256
    """Audio kept before the onset so the first syllable reaches STT."""
    segment_pause_ms: int = 350
    min_segment_speech_ms: int = 1000
    max_segment_s: float = 8.0
    endpoint_silence_ms: int = 1200
    """Trailing silence that ends an answer when no end-of-turn model has judged the pause.
    Never a short pause: answers have long ones."""
    endpoint_silence_short_ms: int = 600
    """Used instead when everything said is transcribed and ends like a full sentence (and
    no end-of-turn model has judged the pause)."""
    turn_check_ms: int = 192
    """Silence after which the end-of-turn model is first asked (``CheckTurn``)."""
    turn_recheck_ms: int = 320
    """Ask the model again every this much more silence while it says "not finished"."""
    turn_resume_ms: int = 160
    """Speech that ends a pause being judged; shorter blips (a breath, a click) do not."""
    turn_complete: float = 0.5
    """The model's probability at or above which it says "finished". The turn then ends
    as soon as the words so far are transcribed and end like a finished sentence (the
    pause's words are cut and sent to STT at the first check, so that is soon)."""
    turn_fallback_ms: int = 2400
    """Trailing silence that ends an answer once the model judged the pause unfinished, or
    finished while the words say otherwise
    (interview answers have long thinking pauses; the model is trusted to end finished
    ones early, so the upper bound can be longer than ``endpoint_silence_ms``)."""
    turn_trust_unfinished: bool = False
    """False (default): when the model says unfinished but the words end a sentence, the
    ordinary ``endpoint_silence_ms`` ends the answer; True: the long ``turn_fallback_ms``.
    Measured on synthetic speech (docs/scaling.md) the model misses finished answers often
    enough that trusting it costs 2.4 s on those turns, for no fewer cut-offs."""
    ack_hold_s: float = 3.0
    """An acknowledgment waits at most this long for a candidate who resumed speaking."""
    min_utterance_ms: int = 400
    """Utterances with less speech are coughs or clicks and are dropped."""
    max_utterance_s: float = 120.0
    stall_s: float = 1.5
    """No audio at all for this long during an utterance ends it (muted or frozen client)."""
    stt_fail_ratio: float = 0.5
    """Ask to repeat when failed segments hold more than this share of the speech."""
    max_repeats: int = 2

    # --- interviewer speech out ------------------------------------------------------------
    playback_margin_ms: int = 150
    """Added to the estimated playback end before listening (transport, jitter)."""
    tts_buffer_max_bytes: int = 2_000_000
    """Bound of all audio held in the core (reorder buffer and prefetched question)."""
    max_sentences: int = 6
    prefetch_tts: bool = True
    voice: str = ""

    # --- heartbeats and lifecycle ------------------------------------------------------------
    ping_interval_s: float = 5.0
    max_missed_pongs: int = 3
    grace_s: float = 30.0
    """Detached longer than this: pause (no new questions) until the client re-attaches."""
    idle_timeout_s: float = 300.0
    """Detached, or finished, this long: snapshot and deactivate."""
    finished_detached_s: float = 10.0
    """Finished and with no client this long: deactivate (nothing is left to do; a client
    that comes back re-activates it from its snapshot and gets the report replayed)."""
    snapshot_interval_s: float = 30.0

    # --- job deadlines (seconds after the request) --------------------------------------
    deadline_stt_s: float = 6.0
    deadline_stt_per_audio_s: float = 1.0
    deadline_llm_s: float = 25.0
    """A question that is needed now (the first one, or a late prefetch)."""
    deadline_prefetch_s: float = 90.0
    """A question prepared in the background; tightened to ``llm_wait_s`` once needed."""
    llm_wait_s: float = 8.0
    deadline_followup_s: float = 6.0
    """The follow-up's opening (the quote) is on air at once; past this the gap's template
    question ends it instead of the LLM's."""
    deadline_tts_s: float = 8.0
    deadline_ingest_s: float = 8.0
    deadline_embed_s: float = 4.0
    deadline_assess_s: float = 120.0
    deadline_outline_s: float = 240.0
    """A stronger answer's outline, after the report (low priority: it waits for live work)."""
    deadline_prefill_s: float = 10.0
    """A prefill of the answer so far that has not run by then is stale: dropped."""
    deadline_match_s: float = 4.0
    """Matching the posting's requirements to the résumé's claims by meaning; the second
    main question waits for it at most this long (the greeting and the first question
    play meanwhile)."""
    deadline_claims_s: float = 120.0
    """The LLM's reading of the résumé (which claims are most worth asking about), in the
    background at low priority; a plan revised by it applies to the questions not yet
    prepared."""
    deadline_analyse_s: float = 10.0
    """Reading an answer by meaning (which sentences talk to the grader, how close it is to
    its question); the answer's assessment waits for it, at most this long."""
    analyse_wait_s: float = 1.5
    """A follow-up waits at most this long for the reading (while the acknowledgment
    plays; it takes about 0.1-0.2 s); past it the text rules decide alone."""
    report_wait_s: float = 60.0
    """After the closing, wait at most this long for outstanding assessments. On two cores
    the 1.5B model scores one answer in about 30 s (measured), and the last answer's
    assessment can only start once it is given: a shorter wait gives estimated scores."""

    # --- interview plan and prompt size ---------------------------------------------
    max_followups: int = 1
    llm_unplanned_questions: bool = False
    """Main questions without a plan anchor (no résumé/posting, or more questions than
    anchors): False takes them from the role's bank (on-role by construction, no model);
    True lets the LLM write them, streamed, with the bank as the fallback."""
    llm_phrasing: str = "en"
    """Languages (comma-separated) in which the LLM phrases planned questions and
    follow-ups; in the others the templates do (the 1.5B model's Korean questions were
    often ungrammatical or spoken as the candidate, see docs/quality.md)."""
    llm_behaviour: bool = False
    """True: the LLM also phrases behaviour questions and their follow-ups (a stronger
    remote model does this well; asked to, the 1.5B model turned people questions into
    technology ones, so the templates do it by default)."""
    history_turns: int = 4
    history_answer_chars: int = 400
    max_answer_chars: int = 4000
    rag_k: int = 2
    context_chunk_chars: int = 300
    query_chars: int = 300
    stt_prompt_chars: int = 200
    question_max_tokens: int = 96
    followup_max_tokens: int = 64
    assess_max_tokens: int = 256
    outline_max_tokens: int = 120
    prefill_answers: bool = True
    """While the candidate speaks, have the LLM read the settled words of the answer into
    the assessment prompt (:mod:`actors.session.prefill`), so the answer's assessment, and
    with the last answer the report, comes seconds sooner."""
    prefill_min_words: int = 6

    # --- understanding (the embedding model's readings; thresholds on its cosines) ------
    match_similarity: float = 0.65
    """A posting requirement and a résumé claim this related (or more) are a match: the
    claim shows the requirement. Relatedness is 0 (unrelated) .. 1 (a question and its
    answer), calibrated per embedder (``actors.models.relate``)."""
    relevance_similarity: float = 0.5
    """An answer less related than this to its question (and to the résumé line it is
    about) does not address it: relevance is capped at 2."""
    grader_probability: float = 0.85
    """A sentence at least this likely addressed to the grader is treated as such: left
    out of what is assessed, quoted and praised, and the answer's relevance is capped."""
    llm_claims: bool = True
    """Ask the LLM which résumé claims are most worth asking about (``claims``)."""
    plan_claims: int = 48
    """At most this many résumé claims (and 24 requirements) are kept for the plan."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float) and value < 0:
                raise ValueError(f"CoreConfig.{name} must be >= 0, got {value}")
        if self.sample_rate <= 0 or self.frame_samples <= 0:
            raise ValueError("CoreConfig: sample_rate and frame_samples must be > 0")
        if not 0.0 < self.speech_probability <= 1.0:
            raise ValueError("CoreConfig: speech_probability must be in (0, 1]")
        if not 0.0 < self.turn_complete <= 1.0:
            raise ValueError("CoreConfig: turn_complete must be in (0, 1]")
        if self.turn_recheck_ms <= 0:
            raise ValueError("CoreConfig: turn_recheck_ms must be > 0")
        if self.endpoint_silence_short_ms > self.endpoint_silence_ms:
            raise ValueError("CoreConfig: endpoint_silence_short_ms > endpoint_silence_ms")

    @property
    def frame_ms(self) -> float:
        """Duration of one VAD frame in milliseconds (32 ms by default)."""
        return self.frame_samples * 1000.0 / self.sample_rate

    @property
    def frame_bytes(self) -> int:
        """Bytes of one PCM16 VAD frame."""
        return self.frame_samples * 2

    @property
    def bytes_per_ms(self) -> float:
        """Bytes of PCM16 mono input audio per millisecond."""
        return self.sample_rate * 2 / 1000.0

"""Test-only model workers: tiny deterministic handlers served through the real JetStream
worker loop (never used outside tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.js import JetStreamContext

from bus import jobs
from bus.worker import JobContext, JobWorker

QUESTIONS = {
    "en": [
        "Tell me about a project you are proud of.",
        "How do you handle disagreement?",
        "Describe a hard bug you fixed.",
        "What would you improve in your last team?",
    ],
    "ko": [
        "가장 자랑스러운 프로젝트를 말씀해 주세요.",
        "의견 충돌은 어떻게 해결하시나요?",
        "해결했던 어려운 버그를 설명해 주세요.",
        "지난 팀에서 개선하고 싶은 점은 무엇인가요?",
    ],
}


async def fake_model(job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
    if isinstance(job, jobs.SttJob):
        words = len(job.pcm) // 16000
        yield jobs.SttResult(
            job_id=job.job_id,
            text="I worked on it. " * max(words, 1),
            segment=job.segment,
            audio_ms=len(job.pcm) // 32,
        )
    elif isinstance(job, jobs.LlmJob):
        if job.task == "assess":
            yield jobs.LlmDone(
                job_id=job.job_id,
                text="",
                rubric=jobs.Rubric(
                    relevance=4,
                    depth=3,
                    clarity=4,
                    role_fit=3,
                    evidence=[job.answer[:40]],
                    strength="Concrete.",
                    improvement="Quantify the result.",
                ),
            )
        elif job.task == "followup":
            yield jobs.LlmDone(job_id=job.job_id, text="")
        else:
            qs = QUESTIONS.get(job.language, QUESTIONS["en"])
            text = qs[len(job.asked) % len(qs)]
            yield jobs.LlmSentence(job_id=job.job_id, index=0, text=text)
            yield jobs.LlmDone(job_id=job.job_id, text=text, sentences=1)
    elif isinstance(job, jobs.TtsJob):
        pcm = b"\x00\x01" * (1600 * max(1, len(job.text) // 20))
        yield jobs.TtsChunk(job_id=job.job_id, index=0, sample_rate=16000, pcm=pcm)
        yield jobs.TtsDone(job_id=job.job_id, chunks=1, audio_ms=len(pcm) // 32)
    elif isinstance(job, jobs.EmbedJob):
        yield jobs.EmbedResult(
            job_id=job.job_id,
            chunks=["context chunk"] if job.op == "search" else [],
            stored=len(job.texts),
        )


def fake_workers(js: JetStreamContext) -> list[JobWorker]:
    return [
        JobWorker(js, kind, fake_model, concurrency=4)
        for kind in ("stt", "llm", "tts", "embed", "assess")
    ]

"""A scripted WebSocket client of the Parley protocol, for the tests and the benches (``parley
bench e2e``, ``load``): both depend on it, so it lives with the application, not in
``bench``."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from bus import audio

_VOICED = 330  # about -40 dBFS


def last_voiced_s(pcm: bytes) -> float:
    """Seconds from the start of 16 kHz PCM16 ``pcm`` to the end of its last voiced sample."""
    a = np.frombuffer(pcm[: len(pcm) & ~1], dtype="<i2").astype(np.int32)
    idx = np.nonzero(np.abs(a) > _VOICED)[0]
    return 0.0 if idx.size == 0 else (int(idx[-1]) + 1) / 16000


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    #: (turn, chunk, sample rate, PCM bytes, arrival time)
    audio: list[tuple[int, int, int, int, float]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]


class Client:
    """Connects, answers pings, records every event and audio frame."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.rx = Received()
        self.session_id = ""
        self.token = ""
        self.last_seq = 0
        self._reader: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()
        self.closed: tuple[int | None, str] | None = None

    async def connect(
        self, *, session_id: str | None = None, token: str | None = None, last_seq: int = 0
    ) -> dict[str, Any]:
        self.ws = await asyncio.wait_for(connect(self.url, max_size=2**22), 10)
        hello: dict[str, Any] = {"type": "hello", "last_seq": last_seq}
        if session_id:
            hello.update(session_id=session_id, token=token)
        await self.ws.send(msgspec.json.encode(hello).decode())
        self._reader = asyncio.create_task(self._read())
        ready = await self.wait_for("ready", timeout=30)
        self.session_id, self.token = ready["session_id"], ready["token"] or (token or "")
        return ready

    async def send(self, obj: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        if isinstance(obj, dict):
            obj = msgspec.json.encode(obj).decode()
        await self.ws.send(obj)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    h = audio.decode_header(frame)
                    self.rx.audio.append(
                        (
                            h.turn,
                            h.chunk,
                            h.sample_rate,
                            len(frame) - audio.HEADER_BYTES,
                            time.monotonic(),
                        )
                    )
                else:
                    ev = msgspec.json.decode(frame)
                    ev["_t"] = time.monotonic()
                    if ev.get("type") == "ping":
                        await self.send({"type": "pong", "id": ev["id"]})
                    seq = ev.get("seq", 0)
                    if seq:
                        assert seq > self.last_seq, f"seq went {self.last_seq} -> {seq}"
                        self.last_seq = seq
                    self.rx.events.append(ev)
                async with self._cond:
                    self._cond.notify_all()
        except Exception:
            pass
        finally:
            if self.ws is not None:
                self.closed = (self.ws.close_code, self.ws.close_reason or "")
            async with self._cond:
                self._cond.notify_all()

    async def wait_for(
        self, kind: str, *, count: int = 1, timeout: float = 60, where: Any = None
    ) -> dict[str, Any]:
        def matches() -> list[dict[str, Any]]:
            return [e for e in self.rx.of(kind) if where is None or where(e)]

        async def wait() -> dict[str, Any]:
            async with self._cond:
                while len(matches()) < count:
                    if self.closed is not None:
                        raise ConnectionError(f"closed {self.closed} waiting for {kind}")
                    await self._cond.wait()
                return matches()[count - 1]

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            tail = [
                {k: v for k, v in e.items() if k != "report"}
                for e in self.rx.events
                if e.get("type") != "ping"
            ][-10:]
            raise TimeoutError(f"no {kind} within {timeout}s; last events: {tail}") from None

    async def speak(self, pcm: bytes, *, silence_s: float = 2.0) -> float:
        """Stream 16 kHz PCM16 ``pcm`` then ``silence_s`` of silence in real time, 20 ms
        per frame, as a microphone would. Returns the loop time of the last voiced sample
        (|sample| above about -40 dBFS), not of the end of ``pcm``: synthesised speech ends
        with a few hundred milliseconds of silence."""
        frame = 640
        audio = pcm + b"\0\0" * int(16000 * silence_s)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(0, len(audio), frame):
            await self.send(audio[i : i + frame])
            await asyncio.sleep(max(0.0, t0 + (i // frame + 1) * 0.02 - loop.time()))
        return t0 + last_voiced_s(pcm)

    async def next_event(self, timeout: float) -> None:
        """Wait until one more event or frame arrives (or the connection closes)."""
        n = len(self.rx.events) + len(self.rx.audio)

        async def wait() -> None:
            async with self._cond:
                while len(self.rx.events) + len(self.rx.audio) == n and self.closed is None:
                    await self._cond.wait()

        await asyncio.wait_for(wait(), timeout)

    def asked_turns(self) -> list[int]:
        """Turns of main and follow-up questions, in order, each once."""
        turns: list[int] = []
        for e in self.rx.of("question"):
            if e["kind"] in ("main", "followup") and e["turn"] not in turns:
                turns.append(e["turn"])
        return turns

    async def typed_interview(self, answer: str, timeout: float = 120) -> dict[str, Any]:
        """Answer every question with ``answer`` until the report arrives; return it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        answered: set[int] = set()
        while not self.rx.of("report"):
            for turn in self.asked_turns():
                if turn not in answered:
                    answered.add(turn)
                    await self.send({"type": "answer_text", "text": answer})
            if self.closed is not None:
                raise ConnectionError(f"closed {self.closed}")
            await self.next_event(max(0.1, end - loop.time()))
        report: dict[str, Any] = self.rx.of("report")[0]["report"]
        return report

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)


# --- a raw client, for attacks: any frame, any header, never reading ------------------


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 5.2) with ``payload`` (up to 64 KiB)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return bytes([0x80 | opcode]) + length + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame (unmasked, not fragmented)."""
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(n)


async def raw_open(
    port: int,
    hello: dict[str, Any] | None,
    *,
    source: str = "127.0.0.1",
    headers: str = "",
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """A WebSocket to the edge on ``port`` over a plain socket, from address ``source``
    (with ``headers``, CRLF-terminated lines, added to the upgrade request): the upgrade,
    then ``hello`` and its ``ready`` (``{}`` without a hello). Raises ConnectionError on a
    refusal."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 10
    )
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{headers}\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        writer.close()
        raise ConnectionError(status.decode(errors="replace"))
    if hello is None:
        return reader, writer, {}
    writer.write(masked_frame(0x1, msgspec.json.encode(hello)))
    while True:
        opcode, data = await asyncio.wait_for(read_frame(reader), 30)
        if opcode == 0x8:
            writer.close()
            raise ConnectionError(f"closed at hello: {data[:2].hex()}")
        if opcode == 0x1:
            event: dict[str, Any] = msgspec.json.decode(data)
            if event.get("type") == "ready":
                return reader, writer, event
            if event.get("type") == "error":
                writer.close()
                raise ConnectionError(f"refused at hello: {event}")

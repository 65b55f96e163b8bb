"""Engines that call an inference server over HTTP (the OpenAI-compatible API): vLLM,
llama.cpp's ``llama-server``, llama-cpp-python's server, Ollama, TGI, faster-whisper servers.

They do what the embedded engines in :mod:`actors.models.engines` do, with the same prompts,
sentence streaming, follow-up rules and assessment validation (:mod:`actors.models.llm`),
but the model runs elsewhere: no weights are loaded here, and one actor keeps several
requests in flight (a server that batches serves them together). Like the embedded engines
they never touch NATS; the actors in :mod:`actors.models.service` put them on the bus.

- :mod:`.config`: ``PARLEY_LLM_URL`` / ``PARLEY_STT_URL`` and their model, key, concurrency
  and structured-output settings;
- :mod:`.http`: the shared client policy (every request bounded by the job's deadline,
  tenacity backoff on 429/5xx and dropped connections, SSE parsing);
- :mod:`.llm_openai`: the interviewer LLM over ``/v1/chat/completions`` (async);
- :mod:`.stt_openai`: speech to text over ``/v1/audio/transcriptions`` (synchronous, run on
  the STT actor's threads like the embedded Whisper).
"""

"""The interviewer LLM's engine-independent logic: prompt text, rendering, the follow-up
decision, sentence streaming and assessment parsing. Every LLM engine (embedded llama.cpp in
:mod:`actors.models.engines.llm_qwen`, a remote OpenAI-compatible server in
:mod:`actors.models.remote.llm_openai`) uses these, so they behave the same."""

//! OpenAI-compatible chat completions over HTTP, streamed as server-sent events.

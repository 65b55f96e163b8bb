-- Parley schema v1: sessions with fenced snapshots, turns, reports, RAG documents.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE sessions (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL DEFAULT 'active',
    language    text NOT NULL DEFAULT 'en',
    role        text NOT NULL DEFAULT 'general',
    owner       text,
    -- KV lease revision of the owner that wrote the snapshot: a write with a lower
    -- revision than the stored one is stale (a partitioned old owner) and is rejected.
    fence       bigint NOT NULL DEFAULT 0,
    snapshot    bytea,
    snapshot_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX sessions_status_updated ON sessions (status, updated_at);

CREATE TABLE turns (
    session_id  text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn        integer NOT NULL,
    question    text NOT NULL,
    answer      text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT 'speech',
    assessment  jsonb,
    latency     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, turn)
);

CREATE TABLE reports (
    session_id  text PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    report      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Chunks for retrieval: per-session documents (resume, posting) and the shared question
-- bank (session_id NULL). 384 dims: multilingual-e5-small and all-MiniLM-L6-v2.
CREATE TABLE chunks (
    id          bigserial PRIMARY KEY,
    session_id  text,
    kind        text NOT NULL,
    language    text NOT NULL,
    content     text NOT NULL,
    content_hash text NOT NULL,
    embedder    text NOT NULL,
    embedding   vector(384) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX chunks_unique ON chunks (coalesce(session_id, ''), kind, embedder, content_hash);
CREATE INDEX chunks_session ON chunks (session_id);
CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

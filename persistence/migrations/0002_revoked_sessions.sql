-- Sessions whose tokens no longer count ("delete my interview"): every token check of
-- the edge looks here, so a deleted session's session, report and replay tokens stop
-- working at once, on every edge. Kept until the longest-lived token of the session has
-- expired (the retention sweep removes older rows).
CREATE TABLE revoked_sessions (
    session_id  text PRIMARY KEY,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_sessions_at ON revoked_sessions (revoked_at);

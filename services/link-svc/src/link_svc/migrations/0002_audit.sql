-- Troubleshooting and audit trails. None of them holds a token, a secret or a JWT.

-- Link's onSuccess / onExit metadata as the front end reported it.
CREATE TABLE link_sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          text        NOT NULL,
    outcome          text        NOT NULL CHECK (outcome IN ('success', 'exit')),
    link_session_id  text,
    request_id       text,
    institution_id   text,
    item_id          text,
    error_type       text,
    error_code       text,
    exit_status      text,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_sessions_user ON link_sessions (user_id, recorded_at);
CREATE INDEX link_sessions_session ON link_sessions (link_session_id);

-- Every call to Plaid: which endpoint, Plaid's request id, the Item, HTTP status, error code, latency.
CREATE TABLE plaid_calls (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint     text        NOT NULL,
    request_id   text,
    item_id      text,
    http_status  int,
    error_type   text,
    error_code   text,
    latency_ms   double precision NOT NULL,
    called_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plaid_calls_item ON plaid_calls (item_id, called_at);
CREATE INDEX plaid_calls_called_at ON plaid_calls (called_at);

-- Every release of an access token to another service (who, which Item, when; never the token).
CREATE TABLE vault_releases (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      text        NOT NULL,
    released_to  text        NOT NULL,
    released_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vault_releases_item ON vault_releases (item_id, released_at);

-- Verified Plaid webhooks, one row per distinct raw body: a redelivery hits the unique key and
-- publishes nothing. Rows older than the dedupe window are pruned.
CREATE TABLE webhooks (
    body_sha256   text        PRIMARY KEY,
    webhook_type  text        NOT NULL,
    webhook_code  text        NOT NULL,
    item_id       text,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_received_at ON webhooks (received_at);

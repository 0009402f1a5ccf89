-- Webhooks are deduplicated by delivery, not by body (issue #10). Plaid's webhook bodies carry no id and no
-- timestamp: a second SYNC_UPDATES_AVAILABLE, ERROR or LOGIN_REPAIRED of an Item is byte-identical to the
-- first and must have its effect. The signed JWT is the delivery: one row per verified delivery, keyed by
-- its id (SHA-256 of the JWT's signed part and its signature's r), kept only while a replay of that JWT
-- could still verify (its `iat` window), then pruned. The body-keyed table goes: its keys mean nothing now.
DROP TABLE webhooks;

CREATE TABLE webhook_deliveries (
    delivery_id   text        PRIMARY KEY,
    body_sha256   text        NOT NULL,
    webhook_type  text        NOT NULL,
    webhook_code  text        NOT NULL,
    item_id       text,
    issued_at     timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_issued_at ON webhook_deliveries (issued_at);

-- Items, their accounts, their sealed access tokens, and the status history of each Item.
CREATE TABLE items (
    item_id           text        PRIMARY KEY,
    user_id           text        NOT NULL,
    institution_id    text,
    institution_name  text,
    status            text        NOT NULL DEFAULT 'good',
    status_code       text,
    products          text[]      NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    removed_at        timestamptz,
    CHECK (status IN ('good', 'pending_expiration', 'login_required', 'permission_revoked', 'error', 'removed'))
);
CREATE INDEX items_user ON items (user_id, created_at);
CREATE INDEX items_user_institution_live ON items (user_id, institution_id) WHERE status <> 'removed';

CREATE TABLE accounts (
    account_id     text PRIMARY KEY,
    item_id        text NOT NULL REFERENCES items (item_id),
    name           text NOT NULL,
    official_name  text,
    mask           text,
    type           text NOT NULL,
    subtype        text
);
CREATE INDEX accounts_item ON accounts (item_id);

-- AES-256-GCM ciphertext of the access token; `key_id` names the key it is sealed with.
CREATE TABLE access_tokens (
    item_id     text        PRIMARY KEY REFERENCES items (item_id),
    key_id      text        NOT NULL,
    nonce       bytea       NOT NULL,
    ciphertext  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX access_tokens_key ON access_tokens (key_id);

CREATE TABLE item_status_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      text        NOT NULL REFERENCES items (item_id),
    from_status  text        NOT NULL,
    to_status    text        NOT NULL,
    trigger      text        NOT NULL,
    code         text,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_status_changes_item ON item_status_changes (item_id, id);

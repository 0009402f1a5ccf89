-- What the read and edit API needs beyond the projections' tables (docs/ledger-api.md, "Indexes", says
-- why each index exists, from EXPLAIN ANALYZE on 1,000,000 rows).

-- GET /v1/transactions sorted by date (the default) or by amount: a keyset page is one index range scan
-- of the user's rows in sort order, stopped after `limit` rows, however deep the page.
CREATE INDEX transactions_user_date ON transactions (user_id, date, transaction_id);
CREATE INDEX transactions_user_amount ON transactions (user_id, amount, transaction_id);

-- POST /v1/items/{id}/refresh: at most one request per Item per interval, claimed atomically.
CREATE TABLE refresh_requests (
    item_id      text        PRIMARY KEY,
    requested_at timestamptz NOT NULL
);

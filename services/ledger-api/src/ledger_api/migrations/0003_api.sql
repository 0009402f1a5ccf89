-- What the read and edit API needs beyond the projections' tables. docs/ledger-api.md ("Indexes") gives
-- the EXPLAIN ANALYZE figures behind each one (1,000,000 rows, one user holding 100,000).

-- GET /v1/transactions sorted by date (the default) or by amount: a keyset page is one index range scan
-- of the user's rows in sort order, stopped after `limit` rows, however deep the page.
CREATE INDEX transactions_user_date ON transactions (user_id, date, transaction_id);
CREATE INDEX transactions_user_amount ON transactions (user_id, amount, transaction_id);

-- ?category=: the EFFECTIVE primary category (the user's edit, else the categorizer's), in date order; a
-- detailed filter goes through it too (the query adds the detailed one's primary).
CREATE INDEX transactions_user_category
    ON transactions (user_id, (COALESCE(user_category_primary, category_primary)), date, transaction_id);

-- ?account_id= in date order, and GET /v1/accounts' per-account count and date coverage (index-only).
CREATE INDEX transactions_user_account
    ON transactions (user_id, account_id, date, transaction_id) WHERE NOT removed;

-- POST /v1/items/{id}/refresh: at most one request per Item per interval, claimed atomically.
CREATE TABLE refresh_requests (
    item_id      text        PRIMARY KEY,
    requested_at timestamptz NOT NULL
);

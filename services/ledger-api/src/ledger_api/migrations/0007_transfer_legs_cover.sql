-- The legs of transfers between own accounts are subtracted from spending and cash flow rather than left
-- out row by row (adapters/insights_store.py): the index they are found by now holds every column those
-- aggregates read, so the legs in a window are one index-only scan, not a primary-key probe per leg.
-- It stays small: transfer-category rows only.
DROP INDEX transactions_user_transfer_legs;
CREATE INDEX transactions_user_transfer_legs ON transactions (user_id, date)
    INCLUDE (transaction_id, amount, account_id, pending, user_hidden, iso_currency_code, category_primary,
             user_category_primary, category_detailed, user_category_detailed, merchant_name, name)
    WHERE NOT removed
      AND COALESCE(user_category_primary, category_primary) IN ('TRANSFER_IN', 'TRANSFER_OUT', 'LOAN_PAYMENTS');

-- A resync from scratch (SyncRequested with from_scratch: true, e.g. `bankstream items resync --from-scratch`):
-- the next run's pagination loop starts from the empty cursor instead of the Item's cursor, so Plaid sends
-- the whole history again. Claimed (and cleared) only when no loop is open: an open loop is finished first.
ALTER TABLE sync_items ADD COLUMN want_from_scratch boolean NOT NULL DEFAULT false;

-- A resync from scratch (SyncRequested with from_scratch: true, e.g. `bankstream items resync --from-scratch`),
-- asked at this time. The Item first syncs from its cursor as usual (a catch-up: what was removed since the
-- cursor is published as removed, which a pass from the empty cursor would never mention); the first claim
-- after a run that committed after the ask (or of an Item without a cursor) starts a loop from the empty
-- cursor, and clears it. Never claimed while a loop is open: an open loop is finished first.
ALTER TABLE sync_items ADD COLUMN from_scratch_asked_at timestamptz;

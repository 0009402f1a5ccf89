-- Projections: when an Item's ItemLinked is projected, the ledger's rows of that Item that were written
-- before it (cross-topic order is not guaranteed) get its user_id. transactions and accounts find theirs
-- through their item indexes; the change feed's rows through this partial index, which holds only the
-- rows still waiting for their user (normally none), so it costs the hot insert path almost nothing.
CREATE INDEX changes_unowned ON changes (item_id) WHERE user_id IS NULL;

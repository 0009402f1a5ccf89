-- A lease is held by one run (one claim), not by a worker process: `lease_holder` is
-- `<worker>/<a random id per claim>`. A process that claims an Item again after its own earlier run's
-- lease ran out holds a new lease, so that earlier run's commit is fenced off like anybody else's.
-- (`lease_owner` also read like the outbox batches' `owner`, which is the Item.)
ALTER TABLE sync_items RENAME COLUMN lease_owner TO lease_holder;

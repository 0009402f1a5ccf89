-- When link-svc last changed the Item's status, as its ItemStatusChanged says (`changed_at`). A status
-- change older than the one applied (delivered late: a dead-letter replay, a redelivery after a newer one)
-- changes nothing: a stale `login_required` must not pause an Item that has been `good` since.
ALTER TABLE sync_items ADD COLUMN status_changed_at timestamptz;

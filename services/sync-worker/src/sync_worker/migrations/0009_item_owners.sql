-- Whose Item is it: the history API shows a user only their own Items' runs. Learned from the events that
-- name the user (ItemLinked, ItemRemoved, ItemStatusChanged, SyncRequested); an Item known before this
-- table existed gets its owner from the next such event, and until then only `admin` / `users:all` see it.
CREATE TABLE item_owners (
    item_id  text PRIMARY KEY,
    user_id  text NOT NULL
);

"""sync-worker's handlers: what a trigger and a run do, taking what bootstrap() wired.

triggers.py     trigger_handler: an incoming event -> what it asks of `sync_items`
scheduler.py    SyncScheduler: claims due Items under a lease, runs them, renews and fences their leases
sync_run.py     ItemSyncer: one run of one claimed Item, from its token to its one fenced commit
pagination.py   paginate: the pipelined /transactions/sync page loop of one run
"""

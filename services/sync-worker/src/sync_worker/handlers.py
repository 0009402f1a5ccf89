"""sync-worker's handlers: one function per command or event, taking what bootstrap() wired.

Pages Plaid /transactions/sync for each Item it is told about and emits what changed. Nothing yet: this
service only starts, answers its probes and stops.
"""

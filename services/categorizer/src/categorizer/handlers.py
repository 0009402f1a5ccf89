"""categorizer's handlers: one function per command or event, taking what bootstrap() wired.

Enriches transactions with categories and emits the result. Nothing yet: this service only starts,
answers its probes and stops.
"""

"""How a handler tells the consumer runner what went wrong; the runner decides what follows.

    Exception
     ├── PermanentError   the event can never be applied: dead-letter it with the reason and move on
     └── TransientError   the world is briefly wrong (a lock, a timeout, a 5xx): retry with backoff,
                          dead-letter once the attempts run out

A ValidationError (pydantic's or msgspec's) from a handler counts as permanent (the event's data breaks
its contract).
Any other exception counts as transient. Losing PostgreSQL itself is neither: the runner waits for it.
"""


class PermanentError(Exception):
    """This event can never be applied as it is."""


class TransientError(Exception):
    """Applying this event failed for a reason that may pass."""

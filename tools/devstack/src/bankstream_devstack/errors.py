"""One error for everything that stops the local infrastructure from coming up.

Its message is a single line a person can act on ("java not found: install a JDK 17+").
"""


class DevstackError(RuntimeError):
    """The infrastructure could not be brought up, checked or stopped."""

"""categorizer's rules and the events it emits: pure code, no I/O, no adapter."""

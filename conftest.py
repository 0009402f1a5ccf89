"""Test-wide fixtures: the real Kafka broker and PostgreSQL server (see bankstream_devstack.pytest_plugin)."""

pytest_plugins = ["bankstream_devstack.pytest_plugin"]

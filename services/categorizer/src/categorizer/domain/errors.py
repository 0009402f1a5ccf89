"""What categorizer can refuse or fail at, as one hierarchy; entrypoints alone turn it into HTTP.

    CategorizerError
     ├── RuleInvalid      a rule that cannot be saved: unknown category, a regex too costly or malformed,
     │                    an empty match, an inverted amount range (422, with the reason)
     ├── RuleNotFound     no such rule (or not the caller's) (404)
     └── JobNotFound      no such re-categorization job (or not the caller's) (404)

Refusing a caller (NotAuthenticated, NotAllowed) is bankstream_common.auth's. An event that breaks its
contract raises pydantic's ValidationError or bankstream_common.errors.PermanentError: the consumer
runner dead-letters it.
"""


class CategorizerError(Exception):
    """Base of every error categorizer raises on purpose."""


class RuleInvalid(CategorizerError):
    pass


class RuleNotFound(CategorizerError):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"rule {rule_id} not found")


class JobNotFound(CategorizerError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")

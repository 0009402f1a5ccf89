"""A user sees and changes only that user's Items; to them anyone else's Item does not exist."""

import pytest
from bankstream_common.auth import Principal, PrincipalKind
from link_svc.domain.access import check_owner
from link_svc.domain.errors import ItemNotFound


def test_a_user_sees_only_their_items_and_a_service_or_admin_sees_any() -> None:
    alice = Principal("alice", PrincipalKind.USER, frozenset({"items:read"}))
    check_owner(alice, "item-1", "alice")
    with pytest.raises(ItemNotFound):
        check_owner(alice, "item-2", "bob")
    check_owner(Principal("ops", PrincipalKind.SERVICE, frozenset({"link:write"})), "item-2", "bob")
    check_owner(Principal("root", PrincipalKind.USER, frozenset({"admin"})), "item-2", "bob")

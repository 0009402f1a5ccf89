"""A user sees and changes only that user's Items, a service only those of the user it names; to them
anyone else's Item does not exist. `users:all` (a service) or `admin` reach every user's."""

import pytest
from bankstream_common.auth import Principal, PrincipalKind
from link_svc.domain.access import check_owner
from link_svc.domain.errors import ItemNotFound


def test_a_user_sees_only_their_items_a_service_those_of_the_user_it_names() -> None:
    alice = Principal("alice", PrincipalKind.USER, frozenset({"items:read"}))
    check_owner(alice, "item-1", "alice")
    with pytest.raises(ItemNotFound):
        check_owner(alice, "item-2", "bob")
    ops = Principal("ops", PrincipalKind.SERVICE, frozenset({"link:write"}))
    check_owner(ops, "item-2", "bob", on_behalf_of="bob")
    for named in (None, "carol"):
        with pytest.raises(ItemNotFound):
            check_owner(ops, "item-2", "bob", on_behalf_of=named)
    check_owner(Principal("ops", PrincipalKind.SERVICE, frozenset({"users:all"})), "item-2", "bob")
    check_owner(Principal("root", PrincipalKind.USER, frozenset({"admin"})), "item-2", "bob")

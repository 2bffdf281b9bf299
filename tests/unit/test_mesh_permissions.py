from mesh.permissions import covers, grants, is_valid_pattern


def test_star_grants_everything() -> None:
    assert grants(["*"], "auth.users.invite")


def test_segment_wildcards_match_one_segment_each() -> None:
    assert grants(["auth.*.read"], "auth.users.read")
    assert not grants(["auth.*.read"], "auth.users.invite")
    assert not grants(["crm.*.*"], "auth.users.read")


def test_no_patterns_grant_nothing() -> None:
    assert not grants([], "auth.self.read")


def test_pattern_validation() -> None:
    assert is_valid_pattern("*")
    assert is_valid_pattern("crm.contacts.read")
    assert is_valid_pattern("crm.*.*")
    for bad in ("", "crm", "crm.contacts", "crm.contacts.read.more", "CRM.x.y", "crm..read"):
        assert not is_valid_pattern(bad), bad


def test_covers_refuses_escalation() -> None:
    assert covers(["crm.*.*"], "crm.contacts.read")
    assert covers(["crm.*.*"], "crm.*.read")
    assert not covers(["crm.contacts.read"], "crm.*.read")
    assert not covers(["crm.*.*"], "*")
    assert covers(["*"], "*")

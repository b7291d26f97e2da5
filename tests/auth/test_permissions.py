"""Roles × permissions (02 §6) and the dashboard action map (02 §7).

The expected answers come from the spec's tables copied here verbatim, not from the code's own table, so a drift
in `ROLE_PERMISSIONS` or `ACTION_PERMISSIONS` fails these tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from duro.auth.permissions import (
    ACTION_PERMISSIONS,
    ASSIGNABLE_ROLES,
    PERMISSIONS,
    REQUIRES_2FA,
    ROLE_PERMISSIONS,
    ROLES,
    PermissionGuard,
    has_permission,
    permissions_of,
    requires_two_factor,
)
from duro.kit.errors import DuroError

# 02 §6, verbatim.
SPEC_TABLE = """
| Permission | owner | admin | developer | finance | read_only |
|---|---|---|---|---|---|
| `tenant:manage` | ✓ | | | | |
| `member:manage` | ✓ | ✓ | | | |
| `plan:write` | ✓ | ✓ | ✓ | ✓ | |
| `customer:write` | ✓ | ✓ | ✓ | ✓ | |
| `subscription:write` | ✓ | ✓ | ✓ | ✓ | |
| `invoice:write` | ✓ | ✓ | ✓ | ✓ | |
| `refund:write` | ✓ | ✓ | | ✓ | |
| `apikey:manage` | ✓ | ✓ | ✓ | | |
| `webhook:manage` | ✓ | ✓ | ✓ | | |
| `appearance:manage` | ✓ | ✓ | ✓ | | |
| `read` | ✓ | ✓ | ✓ | ✓ | ✓ |
"""


def parse_spec_table(text: str) -> dict[tuple[str, str], bool]:
    lines = [line for line in text.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles = header[1:]
    grid: dict[tuple[str, str], bool] = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        permission = cells[0].strip("`")
        for role, cell in zip(roles, cells[1:], strict=True):
            grid[(role, permission)] = cell == "✓"
    return grid


SPEC = parse_spec_table(SPEC_TABLE)
SPEC_ROLES = ["owner", "admin", "developer", "finance", "read_only"]
SPEC_PERMISSIONS = sorted({p for _, p in SPEC})

# 02 §7 (and the screen map of 07 §3), written out by hand: which permission each dashboard action needs.
SPEC_ACTIONS: dict[str, str] = {
    **dict.fromkeys(["business_settings.update", "kyc.upload", "kyc.submit"], "tenant:manage"),
    **dict.fromkeys(
        [
            "member.invite",
            "member.invite_resend",
            "member.invite_revoke",
            "member.change_role",
            "member.remove",
            "member.reset_two_factor",
            "audit.view",
        ],
        "member:manage",
    ),
    **dict.fromkeys(
        [
            "plan.create",
            "plan.update",
            "plan.archive",
            "plan.unarchive",
            "promo_code.create",
            "promo_code.update",
            "payment_link.create",
            "payment_link.update",
        ],
        "plan:write",
    ),
    **dict.fromkeys(
        ["customer.create", "customer.update", "customer.blacklist", "customer.unblacklist", "payment_method.attach"],
        "customer:write",
    ),
    **dict.fromkeys(
        [
            "subscription.create",
            "subscription.cancel",
            "subscription.undo_cancel",
            "subscription.pause",
            "subscription.resume",
            "subscription.change_plan",
            "subscription.cancel_scheduled_change",
            "test_clock.create",
            "test_clock.advance",
            "test_clock.delete",
            "recovery_settings.update",
        ],
        "subscription:write",
    ),
    "invoice.pay": "invoice:write",
    "refund.create": "refund:write",
    **dict.fromkeys(
        ["api_key.create", "api_key.revoke", "oauth_client.create", "oauth_client.revoke"], "apikey:manage"
    ),
    **dict.fromkeys(
        [
            "webhook_endpoint.create",
            "webhook_endpoint.update",
            "webhook_endpoint.enable",
            "webhook_endpoint.disable",
            "webhook_endpoint.delete",
            "webhook_endpoint.rotate_secret",
            "webhook_delivery.replay",
            "event.resend",
        ],
        "webhook:manage",
    ),
    **dict.fromkeys(
        [
            "appearance.update_draft",
            "appearance.publish",
            "appearance.discard",
            "email_template.update",
            "email_template.reset",
            "email_template.mute",
            "email_template.send_test",
        ],
        "appearance:manage",
    ),
    **dict.fromkeys(["page.view", "analytics.view", "events.view", "dev_inbox.view", "mode.switch"], "read"),
}


@dataclass(frozen=True)
class FakeMember:
    role: str


def test_spec_table_parsed_fully() -> None:
    assert len(SPEC) == 5 * 11
    assert SPEC[("finance", "refund:write")] is True
    assert SPEC[("developer", "refund:write")] is False


def test_vocabulary_matches_spec() -> None:
    assert list(ROLES) == SPEC_ROLES
    assert sorted(PERMISSIONS) == SPEC_PERMISSIONS
    assert set(ROLE_PERMISSIONS) == set(SPEC_ROLES)


@pytest.mark.parametrize("role", SPEC_ROLES)
def test_role_table_matches_spec(role: str) -> None:
    expected = {p for p in SPEC_PERMISSIONS if SPEC[(role, p)]}
    assert set(ROLE_PERMISSIONS[role]) == expected  # type: ignore[index]
    assert permissions_of(role) == expected
    for permission in SPEC_PERMISSIONS:
        assert has_permission(role, permission) is SPEC[(role, permission)]  # type: ignore[arg-type]


def test_members_never_get_star() -> None:
    for role in SPEC_ROLES:
        assert "*" not in permissions_of(role)
        assert not has_permission(role, "*")  # type: ignore[arg-type]


def test_unknown_role_has_no_permission() -> None:
    assert permissions_of("superuser") == frozenset()
    assert not has_permission("superuser", "read")
    with pytest.raises(DuroError) as caught:
        PermissionGuard.require("read")(FakeMember("superuser"))
    assert caught.value.reason == "insufficient_permission"


def test_action_map_matches_spec() -> None:
    assert dict(ACTION_PERMISSIONS) == SPEC_ACTIONS


def test_named_actions_from_the_brief() -> None:
    assert ACTION_PERMISSIONS["plan.create"] == "plan:write"
    assert ACTION_PERMISSIONS["refund.create"] == "refund:write"
    assert ACTION_PERMISSIONS["member.invite"] == "member:manage"
    assert ACTION_PERMISSIONS["audit.view"] == "member:manage"
    assert ACTION_PERMISSIONS["recovery_settings.update"] == "subscription:write"
    assert ACTION_PERMISSIONS["test_clock.advance"] == "subscription:write"
    assert ACTION_PERMISSIONS["oauth_client.create"] == "apikey:manage"
    assert ACTION_PERMISSIONS["email_template.update"] == "appearance:manage"
    assert ACTION_PERMISSIONS["page.view"] == "read"


@pytest.mark.parametrize("role", SPEC_ROLES)
@pytest.mark.parametrize("action", sorted(SPEC_ACTIONS))
def test_rbac_matrix(action: str, role: str) -> None:
    """Every dashboard action × every role: allowed exactly when the spec's table says so, else 403."""
    allowed = SPEC[(role, SPEC_ACTIONS[action])]
    member = FakeMember(role)
    for guard in (PermissionGuard.require(ACTION_PERMISSIONS[action]), PermissionGuard.require_action(action)):
        if allowed:
            assert guard(member) is None
        else:
            with pytest.raises(DuroError) as caught:
                guard(member)
            assert caught.value.status == 403
            assert caught.value.reason == "insufficient_permission"
            assert caught.value.code == "forbidden"


def test_guard_rejects_unknown_permission_and_action() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        PermissionGuard.require("everything")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        PermissionGuard.require_action("rocket.launch")


def test_guard_reads_the_role_at_call_time() -> None:
    """Permissions come from the member row of each request (02 §8.6): one guard, two roles, two answers."""
    guard = PermissionGuard.require("member:manage")
    assert guard(FakeMember("admin")) is None
    with pytest.raises(DuroError):
        guard(FakeMember("developer"))


def test_two_factor_roles_and_assignable_roles() -> None:
    assert set(REQUIRES_2FA) == {"owner", "admin"}
    assert [r for r in SPEC_ROLES if requires_two_factor(r)] == ["owner", "admin"]
    assert set(ASSIGNABLE_ROLES) == {"admin", "developer", "finance", "read_only"}

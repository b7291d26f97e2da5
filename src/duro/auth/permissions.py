"""Dashboard roles and permissions (02 §6–§7), defined once.

Machine credentials (`sk_`, OAuth) carry scope `*` and never pass through here; members never get `*`. A
member's permissions are derived from the `role` of the member row loaded for the current request, so a role
change applies at the member's next request (02 §8.6). Nothing caches a permission set per member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, Literal, Protocol, get_args

from duro.kit.errors import DuroError

Role = Literal["owner", "admin", "developer", "finance", "read_only"]
Permission = Literal[
    "tenant:manage",
    "member:manage",
    "plan:write",
    "customer:write",
    "subscription:write",
    "invoice:write",
    "refund:write",
    "apikey:manage",
    "webhook:manage",
    "appearance:manage",
    "read",
]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
PERMISSIONS: Final[tuple[Permission, ...]] = get_args(Permission)

# Roles an invitation or a role change may grant: nobody grants `owner` (02 §8.2).
ASSIGNABLE_ROLES: Final[tuple[Role, ...]] = ("admin", "developer", "finance", "read_only")

# Owner and admin must have TOTP before their session reaches anything but enrolment (02 §5).
REQUIRES_2FA: Final[frozenset[str]] = frozenset({"owner", "admin"})

_EDITOR: Final[frozenset[Permission]] = frozenset(
    {"plan:write", "customer:write", "subscription:write", "invoice:write", "read"}
)

# The table of 02 §6.
ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        "owner": frozenset(PERMISSIONS),
        "admin": frozenset(PERMISSIONS) - {"tenant:manage"},
        "developer": _EDITOR | {"apikey:manage", "webhook:manage", "appearance:manage"},
        "finance": _EDITOR | {"refund:write"},
        "read_only": frozenset({"read"}),
    }
)

# Every dashboard action and the permission its guard checks (02 §7, 07 §3). Pages need `read`.
ACTION_PERMISSIONS: Final[Mapping[str, Permission]] = MappingProxyType(
    {
        # tenant:manage
        "business_settings.update": "tenant:manage",
        "kyc.upload": "tenant:manage",
        "kyc.submit": "tenant:manage",
        # member:manage
        "member.invite": "member:manage",
        "member.invite_resend": "member:manage",
        "member.invite_revoke": "member:manage",
        "member.change_role": "member:manage",
        "member.remove": "member:manage",
        "member.reset_two_factor": "member:manage",
        "audit.view": "member:manage",
        # plan:write
        "plan.create": "plan:write",
        "plan.update": "plan:write",
        "plan.archive": "plan:write",
        "plan.unarchive": "plan:write",
        "promo_code.create": "plan:write",
        "promo_code.update": "plan:write",
        "payment_link.create": "plan:write",
        "payment_link.update": "plan:write",
        # customer:write
        "customer.create": "customer:write",
        "customer.update": "customer:write",
        "customer.blacklist": "customer:write",
        "customer.unblacklist": "customer:write",
        "payment_method.attach": "customer:write",
        # subscription:write
        "subscription.create": "subscription:write",
        "subscription.cancel": "subscription:write",
        "subscription.undo_cancel": "subscription:write",
        "subscription.pause": "subscription:write",
        "subscription.resume": "subscription:write",
        "subscription.change_plan": "subscription:write",
        "subscription.cancel_scheduled_change": "subscription:write",
        "test_clock.create": "subscription:write",
        "test_clock.advance": "subscription:write",
        "test_clock.delete": "subscription:write",
        "recovery_settings.update": "subscription:write",
        # invoice:write
        "invoice.pay": "invoice:write",
        # refund:write
        "refund.create": "refund:write",
        # apikey:manage
        "api_key.create": "apikey:manage",
        "api_key.revoke": "apikey:manage",
        "oauth_client.create": "apikey:manage",
        "oauth_client.revoke": "apikey:manage",
        # webhook:manage
        "webhook_endpoint.create": "webhook:manage",
        "webhook_endpoint.update": "webhook:manage",
        "webhook_endpoint.enable": "webhook:manage",
        "webhook_endpoint.disable": "webhook:manage",
        "webhook_endpoint.delete": "webhook:manage",
        "webhook_endpoint.rotate_secret": "webhook:manage",
        "webhook_delivery.replay": "webhook:manage",
        "event.resend": "webhook:manage",
        # appearance:manage
        "appearance.update_draft": "appearance:manage",
        "appearance.publish": "appearance:manage",
        "appearance.discard": "appearance:manage",
        "email_template.update": "appearance:manage",
        "email_template.reset": "appearance:manage",
        "email_template.mute": "appearance:manage",
        "email_template.send_test": "appearance:manage",
        # read
        "page.view": "read",
        "analytics.view": "read",
        "events.view": "read",
        "dev_inbox.view": "read",
        "mode.switch": "read",
    }
)


class MemberLike(Protocol):
    """Anything carrying a member's current role (a `core.members` row, a dashboard session's member)."""

    @property
    def role(self) -> str: ...


def is_role(value: str) -> bool:
    return value in ROLE_PERMISSIONS


def permissions_of(role: str) -> frozenset[Permission]:
    """The role's permissions; an unknown role (a corrupt row) has none."""
    return ROLE_PERMISSIONS.get(role, frozenset())  # type: ignore[call-overload, no-any-return]


def has_permission(role: str, permission: Permission) -> bool:
    return permission in permissions_of(role)


def requires_two_factor(role: str) -> bool:
    return role in REQUIRES_2FA


def insufficient_permission(permission: Permission) -> DuroError:
    return DuroError(403, f"Your role does not allow this action (needs {permission}).", "insufficient_permission")


def check_permission(member: MemberLike, permission: Permission) -> None:
    """Raise 403 `insufficient_permission` unless the member's role grants `permission`."""
    if not has_permission(member.role, permission):
        raise insufficient_permission(permission)


def permission_for_action(action: str) -> Permission:
    """The permission guarding a dashboard action; KeyError for an action nobody mapped (a bug, not a 403)."""
    return ACTION_PERMISSIONS[action]


class PermissionGuard:
    """Route-level checks: `guard = PermissionGuard.require("plan:write"); guard(member)` raises 403
    `insufficient_permission` when the member's role lacks the permission, else returns None."""

    @staticmethod
    def require(permission: Permission) -> Callable[[MemberLike], None]:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")

        def guard(member: MemberLike) -> None:
            check_permission(member, permission)

        return guard

    @staticmethod
    def require_action(action: str) -> Callable[[MemberLike], None]:
        return PermissionGuard.require(permission_for_action(action))

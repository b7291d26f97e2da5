"""The pure appearance model (07 §4): defaults, the cascade, deep-merge rules, and every class of field check."""

from __future__ import annotations

from typing import Any

import pytest

from duro.appearance.surfaces import (
    DEFAULT_PORTAL_PERMISSIONS,
    SURFACES,
    canonical,
    defaults,
    diff,
    effective,
    has_unpublished_changes,
    merge_surface,
    normalize_origin,
    resolve,
)
from duro.kit.errors import DuroError

RAILS = ["card", "ussd", "transfer", "virtual_account", "direct_debit"]
LINK = "plink_01JGFJJZ4V8Q2M6T3X9K0D5R7B"


def problems(surface: str, partial: Any, stored: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(DuroError) as caught:
        merge_surface(stored, surface, partial)
    assert caught.value.status == 422
    assert caught.value.code == "validation_error"
    return [(d.path, d.issue) for d in caught.value.details]


def paths(surface: str, partial: Any) -> list[str]:
    return [p for p, _ in problems(surface, partial)]


def test_defaults_cover_every_field_of_07_s4() -> None:
    d = defaults()
    assert tuple(d) == SURFACES == ("general", "store", "checkout", "overlay", "portal", "email")
    assert d["general"] == {
        "displayName": None, "brandColor": "#0F766E", "font": "system", "logo": None, "language": "en",
    }  # fmt: skip
    assert d["store"] == {"enabled": False, "heading": None, "description": None, "linkIds": [], "layout": "grid"}
    assert d["checkout"] == {
        "rails": RAILS, "collectName": False, "phoneField": "optional", "headline": None, "submitLabel": "Pay",
        "footerNote": None, "termsUrl": None, "brandColor": None,
    }  # fmt: skip
    assert d["overlay"] == {"theme": "light", "showIdentityBar": True, "allowedOrigins": [], "brandColor": None}
    assert d["portal"] == {
        "heading": None, "supportUrl": None, "brandColor": None,
        "permissions": {
            "cancelSubscription": True, "cancelMode": "period_end", "pauseSubscription": False,
            "updatePaymentMethod": True, "retryPayment": True, "viewInvoices": True,
        },
    }  # fmt: skip
    assert d["portal"]["permissions"] == dict(DEFAULT_PORTAL_PERMISSIONS)
    assert d["email"] == {
        "senderName": None, "replyTo": None, "headerText": None, "footerText": None, "showLogo": True,
        "brandColor": None,
    }  # fmt: skip
    assert resolve({}) == resolve(None) == d
    d["checkout"]["rails"].append("x")  # a fresh copy each time: callers cannot corrupt the defaults
    assert defaults()["checkout"]["rails"] == RAILS


LOGO = "/assets/logos/ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B/" + "a" * 64 + ".png"


def test_cascade_fills_brand_font_logo_and_the_tenant_name() -> None:
    config = merge_surface(None, "general", {"brandColor": "#112233", "font": "inter", "logo": LOGO})
    config = merge_surface(config, "checkout", {"brandColor": "#AABBCC"})
    out = effective(config, "Acme Ltd")
    assert out["general"]["displayName"] == "Acme Ltd"
    assert out["checkout"]["brandColor"] == "#AABBCC"  # its own colour wins
    for surface in ("store", "overlay", "portal", "email"):
        assert out[surface]["brandColor"] == "#112233"
    for surface in ("store", "checkout", "overlay", "portal", "email"):
        assert (out[surface]["font"], out[surface]["logo"]) == ("inter", LOGO)
    named = effective(merge_surface(config, "general", {"displayName": "Acme"}), "Acme Ltd")
    assert named["general"]["displayName"] == "Acme"
    plain = effective({}, "Shop")
    assert plain["portal"]["brandColor"] == "#0F766E"
    assert plain["email"]["logo"] is None


def test_merge_objects_merged_arrays_replaced_null_restores_default() -> None:
    stored = merge_surface(None, "portal", {"heading": "Hi", "permissions": {"pauseSubscription": True}})
    stored = merge_surface(stored, "portal", {"permissions": {"cancelMode": "immediate"}})
    perms = resolve(stored)["portal"]["permissions"]
    assert perms["pauseSubscription"] is True  # kept: objects are merged key by key
    assert perms["cancelMode"] == "immediate"
    assert resolve(stored)["portal"]["heading"] == "Hi"
    stored = merge_surface(stored, "portal", {"permissions": {"pauseSubscription": None}})
    assert resolve(stored)["portal"]["permissions"] == {**DEFAULT_PORTAL_PERMISSIONS, "cancelMode": "immediate"}
    stored = merge_surface(stored, "portal", {"permissions": None})
    assert resolve(stored)["portal"]["permissions"] == dict(DEFAULT_PORTAL_PERMISSIONS)

    rails = merge_surface(None, "checkout", {"rails": ["transfer", "card", "ussd"]})
    rails = merge_surface(rails, "checkout", {"rails": ["ussd"]})
    assert resolve(rails)["checkout"]["rails"] == ["ussd"]  # replaced, not appended or merged
    assert resolve(merge_surface(rails, "checkout", {"rails": None}))["checkout"]["rails"] == RAILS

    general = merge_surface(None, "general", {"brandColor": "#123456", "font": "inter"})
    general = merge_surface(general, "general", {"brandColor": None})
    assert resolve(general)["general"]["brandColor"] == "#0F766E"
    assert resolve(general)["general"]["font"] == "inter"
    # Clearing every override leaves nothing stored for the surface.
    assert merge_surface(general, "general", {"font": None}) == {}


def test_merge_does_not_touch_its_input_or_other_surfaces() -> None:
    stored = merge_surface(None, "store", {"heading": "Shop", "linkIds": [LINK]})
    snapshot = canonical(stored)
    after = merge_surface(stored, "checkout", {"headline": "Buy"})
    assert canonical(stored) == snapshot
    assert after["store"] == stored["store"]
    assert after["checkout"] == {"headline": "Buy"}


def test_unknown_fields_and_surfaces_are_refused() -> None:
    assert problems("general", {"colour": "#000000", "font": "inter"}) == [("colour", "unknown field")]
    assert problems("portal", {"permissions": {"refund": True}}) == [("permissions.refund", "unknown field")]
    assert problems("store", {"brandColor": "#000000"}) == [("brandColor", "unknown field")]
    with pytest.raises(DuroError) as caught:
        merge_surface(None, "footer", {})
    assert caught.value.status == 404
    assert [d.path for d in caught.value.details] == ["surface"]
    assert problems("general", ["brandColor"]) == [("body", "must be a JSON object")]


def test_every_error_is_reported_and_nothing_merged() -> None:
    stored = merge_surface(None, "checkout", {"headline": "Old"})
    found = problems("checkout", {"headline": "New", "rails": [], "submitLabel": 5, "termsUrl": "http://x.com"}, stored)
    assert [p for p, _ in found] == ["rails", "submitLabel", "termsUrl"]


@pytest.mark.parametrize(
    ("surface", "partial", "path"),
    [
        # types
        ("store", {"enabled": "yes"}, "enabled"),
        ("store", {"enabled": 1}, "enabled"),
        ("checkout", {"collectName": 0}, "collectName"),
        ("overlay", {"showIdentityBar": "true"}, "showIdentityBar"),
        ("email", {"showLogo": None, "headerText": 7}, "headerText"),
        ("checkout", {"headline": ["a"]}, "headline"),
        ("portal", {"permissions": "all"}, "permissions"),
        ("portal", {"permissions": {"viewInvoices": "no"}}, "permissions.viewInvoices"),
        # enums
        ("general", {"font": "comic-sans"}, "font"),
        ("general", {"language": "fr"}, "language"),
        ("store", {"layout": "masonry"}, "layout"),
        ("checkout", {"phoneField": "mandatory"}, "phoneField"),
        ("overlay", {"theme": "blue"}, "theme"),
        ("portal", {"permissions": {"cancelMode": "never"}}, "permissions.cancelMode"),
        # rails: ordered non-empty subset without duplicates
        ("checkout", {"rails": []}, "rails"),
        ("checkout", {"rails": "card"}, "rails"),
        ("checkout", {"rails": ["card", "bitcoin"]}, "rails.1"),
        ("checkout", {"rails": ["ussd", "card", "ussd"]}, "rails.2"),
        # lengths
        ("checkout", {"footerNote": "x" * 301}, "footerNote"),
        ("checkout", {"submitLabel": ""}, "submitLabel"),
        ("general", {"displayName": "   "}, "displayName"),
        ("general", {"displayName": "x" * 121}, "displayName"),
        ("checkout", {"headline": "line\nbreak"}, "headline"),
        ("store", {"heading": "nul\x00"}, "heading"),
        # colours
        ("general", {"brandColor": "teal"}, "brandColor"),
        ("general", {"brandColor": "#0F766"}, "brandColor"),
        ("checkout", {"brandColor": "#0F766EFF"}, "brandColor"),
        ("email", {"brandColor": "0F766E"}, "brandColor"),
        # https URLs
        ("checkout", {"termsUrl": "http://shop.example.com/terms"}, "termsUrl"),
        ("checkout", {"termsUrl": "javascript:alert(1)"}, "termsUrl"),
        ("portal", {"supportUrl": "https://"}, "supportUrl"),
        ("portal", {"supportUrl": "https://ex ample.com"}, "supportUrl"),
        ("portal", {"supportUrl": "https://example.com/" + "a" * 2048}, "supportUrl"),
        ("general", {"logo": "http://cdn.example.com/logo.png"}, "logo"),
        ("general", {"logo": "https://cdn.example.com/logo.svg"}, "logo"),
        ("general", {"logo": "logos/ten_1.png"}, "logo"),  # a storage key is not a public path
        ("general", {"logo": "/assets/logos/ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B/" + "a" * 64 + ".svg"}, "logo"),
        ("general", {"logo": "/assets/logos/ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B/../../kyc/x.png"}, "logo"),
        ("general", {"logo": "/dashboard/logout"}, "logo"),
        # origins
        ("overlay", {"allowedOrigins": "https://shop.example.com"}, "allowedOrigins"),
        ("overlay", {"allowedOrigins": ["https://shop.example.com/checkout"]}, "allowedOrigins.0"),
        ("overlay", {"allowedOrigins": ["https://a.example.com", "ftp://a.example.com"]}, "allowedOrigins.1"),
        ("overlay", {"allowedOrigins": ["https://a.example.com?x=1"]}, "allowedOrigins.0"),
        ("overlay", {"allowedOrigins": ["https://user@a.example.com"]}, "allowedOrigins.0"),
        ("overlay", {"allowedOrigins": ["https://A.example.com", "https://a.example.com:443"]}, "allowedOrigins.1"),
        ("overlay", {"allowedOrigins": ["a.example.com"]}, "allowedOrigins.0"),
        # others
        ("email", {"replyTo": "not-an-email"}, "replyTo"),
        ("store", {"linkIds": ["plan_01JGFJJZ4V8Q2M6T3X9K0D5R7B"]}, "linkIds.0"),
        ("store", {"linkIds": [LINK, LINK]}, "linkIds.1"),
    ],
)
def test_field_validation(surface: str, partial: dict[str, Any], path: str) -> None:
    assert paths(surface, partial) == [path]


def test_valid_values_are_normalised() -> None:
    stored = merge_surface(None, "general", {"brandColor": "#0f766e", "displayName": "Acme"})
    assert stored["general"]["brandColor"] == "#0F766E"
    overlay = merge_surface(
        None, "overlay", {"allowedOrigins": ["HTTPS://Shop.Example.com:443", "http://localhost:5173", "https://[::1]"]}
    )
    assert overlay["overlay"]["allowedOrigins"] == [
        "https://shop.example.com",
        "http://localhost:5173",
        "https://[::1]",
    ]
    email = merge_surface(None, "email", {"replyTo": " Help@Shop.Example.com "})
    assert email["email"]["replyTo"] == "help@shop.example.com"
    note = merge_surface(None, "checkout", {"footerNote": "x" * 300, "rails": ["transfer", "card"]})
    assert resolve(note)["checkout"]["rails"] == ["transfer", "card"]
    assert normalize_origin("https://pay.example.com:8443") == "https://pay.example.com:8443"


def test_canonical_json_compares_meaning_not_storage() -> None:
    assert not has_unpublished_changes({}, None)
    explicit_default = merge_surface(None, "checkout", {"submitLabel": "Pay", "rails": RAILS})
    assert not has_unpublished_changes(explicit_default, {})  # same appearance, stored differently
    changed = merge_surface(None, "checkout", {"submitLabel": "Subscribe"})
    assert has_unpublished_changes(changed, {})
    reordered = merge_surface(None, "checkout", {"rails": list(reversed(RAILS))})
    assert has_unpublished_changes(reordered, {})  # rail order matters
    assert canonical({"general": {"font": "inter", "brandColor": "#000000"}}) == canonical(
        {"general": {"brandColor": "#000000", "font": "inter"}}
    )


def test_diff_lists_changed_fields_only() -> None:
    old = merge_surface(None, "portal", {"heading": "A"})
    new = merge_surface(old, "portal", {"permissions": {"pauseSubscription": True}})
    new = merge_surface(new, "general", {"font": "inter"})
    before, after = diff(old, new)
    assert before == {"general": {"font": "system"}, "portal": {"permissions": {"pauseSubscription": False}}}
    assert after == {"general": {"font": "inter"}, "portal": {"permissions": {"pauseSubscription": True}}}
    assert diff(new, new) == ({}, {})

"""Template tags of the organization's sign-in identity providers (SPEC §9), so that the
organization's page (tenants) shows them without tenants importing federation."""

from django import template

from federation import selectors

register = template.Library()


@register.inclusion_tag("federation/_break_glass_notice.html")
def break_glass_notice(organization):
    """The recent sign-ins of the organization's break-glass administrator, for the other
    administrators to see (SPEC §9); nothing when there were none."""
    return {
        "sign_ins": selectors.break_glass_sign_in_list(organization=organization),
        "days": selectors.BREAK_GLASS_NOTICE_DAYS,
    }

"""Template tags and filters of the admin site: `{% load site %}`.

- `{{ moment|relative_time }}`: "3 minutes ago" (or "in 2 hours"), in a
  `<time datetime="…">` whose title is the exact UTC time.
- `{% org_url "org-members" %}`, `{% tenant_url "tenant-settings" %}`: a page of the
  organization (tenant) of the current page (`access`, tenants.access.SiteAccess), with
  any further URL arguments after the name (`{% tenant_url "tenant-machines-detail" 5 %}`).
- `{% nav_link "tenant-settings" "Settings" %}`: a navigation entry for that page of the
  current tenant (or organization, for `org-` names), marked `aria-current="page"` when the
  current page is it or one below it (its name followed by `-`).
"""

from datetime import UTC, datetime

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()


@register.filter
def relative_time(moment: datetime | None):
    if moment is None:
        return ""
    now = timezone.now()
    exact = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seconds = (now - moment).total_seconds()
    if abs(seconds) < 60:
        text = "just now"
    elif seconds > 0:
        text = f"{timesince(moment, now, depth=1)} ago"
    else:
        text = f"in {timeuntil(moment, now, depth=1)}"
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact, text)


def _site_args(context, name: str) -> list:
    access = context["access"]
    if name.startswith("org-") or name == "organization":
        return [access.organization.slug]
    return [access.organization.slug, access.tenant.name]


@register.simple_tag(takes_context=True)
def org_url(context, name: str, *args) -> str:
    return reverse(name, args=[context["access"].organization.slug, *args])


@register.simple_tag(takes_context=True)
def tenant_url(context, name: str, *args) -> str:
    access = context["access"]
    return reverse(name, args=[access.organization.slug, access.tenant.name, *args])


@register.simple_tag(takes_context=True)
def nav_link(context, name: str, label: str):
    url = reverse(name, args=_site_args(context, name))
    match = getattr(context.get("request"), "resolver_match", None)
    current = match.url_name if match else ""
    if current == name or (current or "").startswith(f"{name}-"):
        return format_html('<a href="{}" aria-current="page">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)

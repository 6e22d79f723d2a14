"""The admin site's pages of the machines app (machines, robots, sessions): see
tenants/site_urls.py for the layout and naming of the site's URLs."""

organization_pages: list = []

tenant_pages: list = []


def search_result_url(*, organization, tenant, result) -> str | None:
    """The page of a search result of this app's types (settings.TENANT_SEARCH_PAGES), or
    None while the type has no page."""
    return None

"""The API reference renders in a browser that can reach nothing but Parlay itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.web.browser import LiveParlay


def test_the_api_reference_renders_with_no_network_beyond_parlay(
    page: Page, live_parlay: LiveParlay
) -> None:
    own = urlsplit(live_parlay.url).netloc
    elsewhere: list[str] = []

    def only_parlay(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_parlay)
    page.goto(f"{live_parlay.url}/docs")
    # Swagger UI drew the document: its title, the campaigns' section and its operations.
    # (Swagger UI is 1.5 MB of script: a loaded machine takes more than the default 5 s.)
    expect(page.get_by_role("heading", name="Parlay")).to_be_visible(timeout=30_000)
    expect(page.locator("#operations-tag-proactive")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert elsewhere == []

"""/docs works offline: Swagger UI's script, stylesheet and icon come from the service itself (the
installed package), not a CDN, and every asset the page names answers without a key."""

from __future__ import annotations

import importlib
import re

import pytest

SERVICES = ["cerebra", "economist", "aegis"]
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.mark.parametrize("service", SERVICES)
async def test_docs_page_and_its_assets_are_served_by_the_service(service, settings, serve_app) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text), "the docs page names an outside URL"
    assets = {a or b for a, b in ASSET.findall(page.text)}
    assert {"/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= assets
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, (asset, response.status_code)
        assert response.content, asset
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text and "javascript" in script.headers["content-type"]

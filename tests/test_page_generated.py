"""The page's generated files are current: the page has no copy of the server's tables."""

from __future__ import annotations

from parley.page import ROLES_JS, roles_js


def test_roles_js_is_generated_from_the_role_table() -> None:
    assert ROLES_JS.read_text(encoding="utf-8") == roles_js(), (
        "edge/static/roles.js is stale: run `.venv/bin/python -m parley.page`"
    )

"""Saving a dtab from the admin UI, in a real browser against a real l5d.

Through ``admin.tokenFile``, ``POST /admin/login`` (``l5d_session`` cookie), ``GET
/admin/session.json`` (``csrf``), ``GET|PUT /admin/dtab/<router>.json`` and its
``history.json``.

Each test: backends A and B; ``/svc/hello`` goes to A; the page is logged in with the
token (the login form's POST, from the browser's own context so the cookie is its).
"""

from __future__ import annotations

import http.client
import json
import urllib.request

import pytest

from tests.helpers.browser import chromium, shot
from tests.helpers.l5d_process import L5d, config_text
from tests.helpers.resilience import Scripted

TOKEN = "s3cret-token-for-tests"
TIMEOUT_MS = 15_000


@pytest.fixture
def setup(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with Scripted() as a, Scripted() as b:
        cfg = config_text(f"/svc/hello=>/$/inet/127.0.0.1/{a.port}").replace(
            "metricsSnapshotIntervalMs: 0}",
            f"metricsSnapshotIntervalMs: 0, tokenFile: '{token_file}'}}")
        with L5d(config=cfg) as l5d, chromium() as browser:
            yield l5d, browser, a, b


def hello(l5d: L5d, target: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", l5d.port, timeout=10)
    try:
        conn.request("GET", target, headers={"Host": "hello"})
        rsp = conn.getresponse()
        rsp.read()
        return rsp.status
    finally:
        conn.close()


def dtab_page(setup, login: bool = True):
    l5d, browser, _, _ = setup
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    base = f"http://127.0.0.1:{l5d.admin_port}"
    if login:
        rsp = context.request.post(f"{base}/admin/login", form={"token": TOKEN, "next": "/dtab"},
                                   max_redirects=0)
        assert rsp.status in (200, 302, 303), rsp.status
    page = context.new_page()
    page.goto(f"{base}/dtab?path=/svc/hello")
    page.locator("#tree-live .dnode.leaf.primary").wait_for(timeout=TIMEOUT_MS)
    if login:
        page.wait_for_function("() => !document.getElementById('save').disabled",
                               timeout=TIMEOUT_MS)
    return page


def save_text(page, text: str) -> None:
    page.fill("#editor", text)
    page.click("#save")


def test_saving_an_edit_changes_routing_and_undo_restores_it(setup) -> None:
    """Adding ``/svc/hello=>B`` and saving: the next request answers from B; the history
    lists the version; its undo button brings A back."""
    l5d, _, a, b = setup
    assert hello(l5d, "/before") == 200 and a.count("/before") == 1
    page = dtab_page(setup)
    save_text(page, page.input_value("#editor") + f"\n/svc/hello=>/$/inet/127.0.0.1/{b.port};")
    page.locator("#save-msg.ok").wait_for(timeout=TIMEOUT_MS)
    assert hello(l5d, "/after-save") == 200 and b.count("/after-save") == 1
    shot(page, "dtab-saved")
    page.locator("#history li button.rollback").first.click()
    page.locator("#save-msg.ok", has_text="undo").wait_for(timeout=TIMEOUT_MS)
    assert hello(l5d, "/after-undo") == 200 and a.count("/after-undo") == 1


def test_a_bad_dtab_shows_the_error_inline_and_routing_is_unchanged(setup) -> None:
    """An unparsable dtab: the page names the line and column; nothing changes."""
    l5d, _, a, _ = setup
    page = dtab_page(setup)
    save_text(page, "/svc/hello=>/$/inet/127.0.0.1/1;\n/svc/bad=>")
    msg = page.locator("#save-msg.invalid")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert "line 2" in msg.inner_text()
    shot(page, "dtab-invalid")
    assert hello(l5d, "/after-bad") == 200 and a.count("/after-bad") == 1


def test_a_stale_edit_shows_the_conflict(setup) -> None:
    """Someone saves (bearer token, the API) after the page loaded: the page's save gets 409
    and shows the other version and a diff; "load their version" puts it in the editor."""
    l5d, _, _, b = setup
    page = dtab_page(setup)
    url = f"http://127.0.0.1:{l5d.admin_port}/admin/dtab/http.json"
    current = json.load(urllib.request.urlopen(url, timeout=10))
    theirs = f"/svc/hello=>/$/inet/127.0.0.1/{b.port};"
    req = urllib.request.Request(url, method="PUT", data=json.dumps(
        {"dtab": theirs, "version": current["version"]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert urllib.request.urlopen(req, timeout=10).status == 200
    save_text(page, "/svc/hello=>/$/inet/127.0.0.1/2;")
    msg = page.locator("#save-msg.conflict")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert theirs in msg.locator(".diff").inner_text()
    shot(page, "dtab-conflict")
    msg.get_by_role("button", name="load their version").click()
    assert page.input_value("#editor").strip() == theirs


def test_a_write_without_login_is_refused(setup) -> None:
    """Without a login the save is refused and the page links to the login form; routing
    is unchanged."""
    l5d, _, a, _ = setup
    page = dtab_page(setup, login=False)
    page.evaluate("document.getElementById('save').disabled = false")
    save_text(page, "/svc/hello=>/$/inet/127.0.0.1/1;")
    msg = page.locator("#save-msg.auth")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert msg.locator("a[href^='/admin/login']").count() == 1
    assert hello(l5d, "/after-refused") == 200 and a.count("/after-refused") == 1

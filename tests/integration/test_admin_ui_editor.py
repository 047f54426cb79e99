"""The dtab editor's handling of every answer the admin's dtab API can give, in a real
browser against a real l5d, with the API itself played by the test (playwright
``page.route``), so that answers hard to provoke for real (a 409 with a given diff, a 401)
are each shown. (test_admin_ui_save.py runs the same flows against the real store.)

The fake follows docs/admin.md: ``GET /admin/dtab/<router>.json`` ->
``{router, dtab, version, store, writable, source}``; ``PUT`` ``{dtab, version}`` -> 200
(same shape) | 409 ``{error, current}`` | 400 ``{error, offset, line, column}`` | 401
``{error}``; ``history.json`` -> ``{router, history: [Change]}``; ``/admin/session.json``.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.browser import chromium, shot
from tests.helpers.l5d_process import L5d, config_text

TIMEOUT_MS = 15_000
BASE = "/svc/hello=>/$/inet/127.0.0.1/7001;"


class FakeStore:
    """The admin's dtab API for router ``http``, in the test process."""

    def __init__(self, put_answers: list[tuple[int, dict]] | None = None) -> None:
        self.current = {"router": "http", "dtab": BASE, "version": "v1", "store": "io.l5d.fs",
                        "writable": True, "source": "store"}
        self.history = [{"router": "http", "version": "v1", "dtab": BASE,
                         "previous_version": None, "previous": None, "who": "alice",
                         "at": 1.7e9}]
        self.puts: list[dict] = []
        self.put_answers = put_answers or []

    def handle(self, route) -> None:
        req = route.request
        url = req.url.split("?")[0]
        if url.endswith("/admin/session.json"):
            return self._json(route, 200, {"authenticated": True, "writable": True,
                                           "csrf": "csrf-1"})
        if url.endswith("/history.json"):
            return self._json(route, 200, {"router": "http", "history": self.history})
        if req.method == "GET":
            return self._json(route, 200, self.current)
        body = json.loads(req.post_data)
        self.puts.append({"body": body, "csrf": req.headers.get("x-l5d-csrf"),
                          "type": req.headers.get("content-type")})
        if self.put_answers:
            code, doc = self.put_answers.pop(0)
            return self._json(route, code, doc)
        version = f"v{len(self.history) + 1}"
        change = {"router": "http", "version": version, "dtab": body["dtab"],
                  "previous_version": self.current["version"], "previous": self.current["dtab"],
                  "who": "token", "at": 1.7e9 + 60}
        self.history.insert(0, change)
        self.current = {**self.current, "dtab": body["dtab"], "version": version}
        return self._json(route, 200, self.current)

    @staticmethod
    def _json(route, code: int, doc: dict) -> None:
        route.fulfill(status=code, content_type="application/json", body=json.dumps(doc))


@pytest.fixture(scope="module")
def l5d_and_browser():
    with L5d(config=config_text(BASE)) as l5d, chromium() as browser:
        yield l5d, browser


def open_editor(l5d_and_browser, store: FakeStore):
    l5d, browser = l5d_and_browser
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/admin/dtab/**", store.handle)
    page.route("**/admin/session.json", store.handle)
    page.goto(f"http://127.0.0.1:{l5d.admin_port}/dtab")
    page.wait_for_function("() => !document.getElementById('save').disabled",
                           timeout=TIMEOUT_MS)
    page.js_errors = errors
    return page


def test_save_sends_the_version_and_the_csrf_header_and_shows_the_new_version(
        l5d_and_browser) -> None:
    """A save PUTs {dtab, version} as JSON with X-L5d-Csrf; the page then shows the new
    version and its history entry."""
    store = FakeStore()
    page = open_editor(l5d_and_browser, store)
    assert "version v1" in page.locator("#dtab-meta").inner_text()
    page.fill("#editor", BASE + "\n/svc/x=>/svc/hello;")
    page.click("#save")
    page.locator("#save-msg.ok").wait_for(timeout=TIMEOUT_MS)
    assert store.puts == [{"body": {"dtab": BASE + "\n/svc/x=>/svc/hello;", "version": "v1"},
                           "csrf": "csrf-1", "type": "application/json"}]
    assert "version v2" in page.locator("#dtab-meta").inner_text()
    page.locator("#history li[data-version='v2']").wait_for(timeout=TIMEOUT_MS)
    shot(page, "dtab-editor-saved")
    assert page.js_errors == []


def test_undo_and_restore_are_one_click(l5d_and_browser) -> None:
    """The current version's undo PUTs its previous text with the current version; an older
    version's restore PUTs that version's text."""
    store = FakeStore()
    page = open_editor(l5d_and_browser, store)
    page.fill("#editor", "/svc/a=>/svc/b;")
    page.click("#save")
    page.locator("#history li[data-version='v2'] button.rollback").click()
    page.locator("#save-msg.ok", has_text="undo").wait_for(timeout=TIMEOUT_MS)
    assert store.puts[-1]["body"] == {"dtab": BASE, "version": "v2"}
    page.locator("#history li[data-version='v2'] button.rollback").click()
    page.locator("#save-msg.ok", has_text="restore").wait_for(timeout=TIMEOUT_MS)
    assert store.puts[-1]["body"] == {"dtab": "/svc/a=>/svc/b;", "version": "v3"}


def test_a_conflict_shows_their_version_and_a_diff(l5d_and_browser) -> None:
    """409: the message names their version, shows the line diff; "save mine over it" PUTs
    with their version; "load their version" puts their text in the editor."""
    theirs = {"router": "http", "dtab": BASE + "\n/svc/theirs=>/svc/hello;", "version": "v7",
              "store": "io.l5d.fs", "writable": True, "source": "store"}
    store = FakeStore([(409, {"error": "version mismatch", "current": theirs})])
    page = open_editor(l5d_and_browser, store)
    page.fill("#editor", BASE + "\n/svc/mine=>/svc/hello;")
    page.click("#save")
    msg = page.locator("#save-msg.conflict")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert "version v7" in msg.inner_text()
    assert msg.locator(".diff .del").inner_text() == "- /svc/theirs=>/svc/hello;"
    assert msg.locator(".diff .add").inner_text() == "+ /svc/mine=>/svc/hello;"
    shot(page, "dtab-conflict")
    msg.get_by_role("button", name="save mine over it").click()
    page.locator("#save-msg.ok").wait_for(timeout=TIMEOUT_MS)
    assert store.puts[-1]["body"]["version"] == "v7"


def test_load_their_version(l5d_and_browser) -> None:
    """After a 409, "load their version" replaces the editor's text and version."""
    theirs = {"router": "http", "dtab": "/svc/theirs=>/svc/hello;", "version": "v9",
              "store": "io.l5d.fs", "writable": True, "source": "store"}
    store = FakeStore([(409, {"error": "version mismatch", "current": theirs})])
    page = open_editor(l5d_and_browser, store)
    page.fill("#editor", "/svc/mine=>/svc/hello;")
    page.click("#save")
    page.get_by_role("button", name="load their version").click()
    assert page.input_value("#editor") == "/svc/theirs=>/svc/hello;"
    assert "version v9" in page.locator("#dtab-meta").inner_text()


def test_an_invalid_dtab_points_at_the_line_and_column(l5d_and_browser) -> None:
    """400: the message names line and column, shows the line with a caret under the
    column, and selects the bad character in the editor."""
    text = "/svc/a=>/svc/b;\n/svc/c=>/svc/[d"
    store = FakeStore([(400, {"error": "'[' is not a label character", "offset": 29,
                              "line": 2, "column": 14})])
    page = open_editor(l5d_and_browser, store)
    page.fill("#editor", text)
    page.click("#save")
    msg = page.locator("#save-msg.invalid")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert msg.inner_text().startswith("line 2, column 14: '[' is not a label character")
    assert msg.locator("pre").inner_text() == "/svc/c=>/svc/[d\n" + " " * 13 + "^"
    assert page.evaluate("[editor.selectionStart, editor.selectionEnd]") == [29, 30]
    shot(page, "dtab-invalid")


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_write_links_to_the_login(l5d_and_browser, code: int) -> None:
    """401/403: the error and a link to /admin/login?next=/dtab."""
    store = FakeStore([(code, {"error": "a token is needed"})])
    page = open_editor(l5d_and_browser, store)
    page.click("#save")
    msg = page.locator("#save-msg.auth")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert "a token is needed" in msg.inner_text()
    assert msg.locator("a").get_attribute("href") == "/admin/login?next=%2Fdtab"


def test_without_the_api_the_config_dtab_is_shown_read_only(l5d_and_browser) -> None:
    """No dtab API (a 404, as before the merge): the config's dtab, Save disabled, a note
    saying so."""
    l5d, browser = l5d_and_browser
    page = browser.new_page()
    page.route("**/admin/dtab/**", lambda route: route.fulfill(status=404, body="not found"))
    page.goto(f"http://127.0.0.1:{l5d.admin_port}/dtab")
    page.locator("#dtab-meta", has_text="from the config").wait_for(timeout=TIMEOUT_MS)
    assert page.input_value("#editor") == BASE
    assert page.locator("#save").is_disabled()


def test_logging_levels_are_listed_filtered_and_changed(l5d_and_browser) -> None:
    """/logging lists GET /logging.json; choosing a level PUTs {logger, level}
    as JSON with the CSRF header; a refused PUT puts the old level back and links to the
    login."""
    l5d, browser = l5d_and_browser
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    puts: list[dict] = []
    answers = [200, 401]

    def logging_json(route) -> None:
        if route.request.method == "GET":
            doc = {"loggers": [{"name": "", "level": "WARNING"}, {"name": "l5d", "level": "INFO"},
                               {"name": "l5d.access_log", "level": "INFO"}],
                   "levels": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]}
            return FakeStore._json(route, 200, doc)
        puts.append({"body": json.loads(route.request.post_data),
                     "csrf": route.request.headers.get("x-l5d-csrf")})
        code = answers.pop(0)
        FakeStore._json(route, code, {"ok": True} if code == 200 else {"error": "log in"})

    page.route("**/logging.json", logging_json)
    page.route("**/admin/session.json", FakeStore().handle)
    page.goto(f"http://127.0.0.1:{l5d.admin_port}/logging")
    select = page.get_by_label("level of l5d", exact=True)
    select.wait_for(timeout=TIMEOUT_MS)
    page.fill("#filter", "access")
    assert page.locator("#loggers tbody tr").count() == 1
    page.fill("#filter", "")
    select.select_option("DEBUG")
    page.locator("#status", has_text="l5d is now DEBUG").wait_for(timeout=TIMEOUT_MS)
    assert puts == [{"body": {"logger": "l5d", "level": "DEBUG"}, "csrf": "csrf-1"}]
    shot(page, "logging")
    select.select_option("ERROR")
    page.locator("#status a[href^='/admin/login']").wait_for(timeout=TIMEOUT_MS)
    assert select.input_value() == "DEBUG"

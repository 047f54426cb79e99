"""l5d.reload.plan: old config + new config -> what a reload keeps, rebuilds, binds (pure)."""

from __future__ import annotations

import pytest

from l5d.config import parse_config
from l5d.reload.plan import plan_reload

BASE = """\
admin: {ip: 127.0.0.1, port: 9990}
routers:
- protocol: http
  dtab: /svc=>/$/inet/127.0.0.1/8080
  servers: [{ip: 127.0.0.1, port: 4140}]
- protocol: http
  label: in
  dtab: /svc=>/$/inet/127.0.0.1/8081
  servers: [{ip: 127.0.0.1, port: 4141}]
namers:
- {kind: io.l5d.fs, rootDir: /tmp/disco}
"""


def _plan(old: str, new: str):
    return plan_reload(parse_config(old), parse_config(new))


def _edit(*pairs: tuple[str, str]) -> str:
    text = BASE
    for a, b in pairs:
        assert a in text, a
        text = text.replace(a, b, 1)
    return text


class PlanTests:
    def test_tls_on_a_kept_port_is_refused(self) -> None:
        """A kept port's socket cannot start or stop speaking TLS: refused by key path,
        nothing else planned; TLS on a new port is a bind."""
        tls = "tls: {certPath: /c.pem, keyPath: /k.pem}"
        plan = _plan(BASE, _edit(("port: 4141}]", f"port: 4141, {tls}}}]")))
        assert plan.refused and "routers[in].servers[0].tls" in plan.refused[0]
        assert plan.servers_bound == () and plan.routers_rebuilt == ()
        plan = _plan(BASE, _edit(("port: 4141}]", f"port: 4141}}, {{port: 4143, {tls}}}]")))
        assert not plan.refused and plan.servers_bound == (("127.0.0.1", 4143),)

    def test_same_config_is_unchanged(self) -> None:
        """plan(c, c) keeps everything and does nothing."""
        plan = _plan(BASE, BASE)
        assert plan.unchanged and plan.changes == ()
        assert plan.routers_kept == ("http", "in")
        assert plan.servers_kept == (("127.0.0.1", 4140), ("127.0.0.1", 4141))
        assert plan.namers_kept == ((0, 0),) and plan.telemetry_kept

    def test_comments_and_spelling_are_unchanged(self) -> None:
        """Text that parses to the same config (a comment, flow vs block style) is no change."""
        plan = _plan(BASE, "# a comment\n" + BASE.replace("/svc=>", "/svc => "))
        assert plan.unchanged

    @pytest.mark.parametrize("edits, kept, rebuilt, changes", [
        pytest.param([("8080", "9090")], ("http", "in"), (), ("rt/http: dtab",),
                     id="a dtab alone keeps the router (the store swaps it)"),
        pytest.param([("  dtab: /svc=>/$/inet/127.0.0.1/8080\n",
                       "  dtab: /svc=>/$/inet/127.0.0.1/8080\n  client: "
                       "{requestAttemptTimeoutMs: 500}\n")],
                     ("in",), ("http",), ("rt/http: client",),
                     id="a client policy rebuilds that router only"),
        pytest.param([("rootDir: /tmp/disco", "rootDir: /tmp/other")], (), ("http", "in"),
                     ("namers: /#/io.l5d.fs changed",),
                     id="a namer change rebuilds every router"),
        pytest.param([("namers:", "telemetry: [{kind: io.l5d.prometheus}]\nnamers:")], (),
                     ("http", "in"), ("telemetry changed",),
                     id="a telemetry change rebuilds every router"),
    ])
    def test_what_is_kept_and_rebuilt(self, edits, kept, rebuilt, changes) -> None:
        plan = _plan(BASE, _edit(*edits))
        assert (plan.routers_kept, plan.routers_rebuilt, plan.changes) == (
            kept, rebuilt, changes)
        assert not plan.unchanged and not plan.refused

    def test_dtab_change_is_listed_for_the_store(self) -> None:
        assert _plan(BASE, _edit(("8081", "9091"))).dtabs == ("in",)

    def test_ports_added_removed_and_kept(self) -> None:
        """A server is known by ip:port: added ones are bound, removed ones unbound."""
        new = _edit(("[{ip: 127.0.0.1, port: 4140}]",
                     "[{ip: 127.0.0.1, port: 4140}, {ip: 127.0.0.1, port: 4142}]"),
                    ("port: 4141", "port: 4143"))
        plan = _plan(BASE, new)
        assert plan.servers_kept == (("127.0.0.1", 4140),)
        assert plan.servers_bound == (("127.0.0.1", 4142), ("127.0.0.1", 4143))
        assert plan.servers_unbound == (("127.0.0.1", 4141),)
        assert "rt/http: server 127.0.0.1:4142 added" in plan.changes
        assert "rt/in: server 127.0.0.1:4141 removed" in plan.changes
        assert plan.routers_rebuilt == ("http", "in")

    def test_a_server_key_change_is_named(self) -> None:
        new = _edit(("port: 4140}", "port: 4140, maxConcurrentRequests: 10}"))
        plan = _plan(BASE, new)
        assert plan.servers_kept[0] == ("127.0.0.1", 4140)
        assert "rt/http: server 127.0.0.1:4140: maxConcurrentRequests" in plan.changes

    def test_routers_added_and_removed(self) -> None:
        new = BASE.split("- protocol: http\n  label: in")[0] + (
            "- protocol: http\n  label: out\n  servers: [{ip: 127.0.0.1, port: 4150}]\n"
            "namers:\n- {kind: io.l5d.fs, rootDir: /tmp/disco}\n")
        plan = _plan(BASE, new)
        assert plan.routers_added == ("out",) and plan.routers_removed == ("in",)
        assert plan.routers_kept == ("http",)
        assert "rt/out: added" in plan.changes and "rt/in: removed" in plan.changes
        assert plan.servers_bound == (("127.0.0.1", 4150),)
        assert plan.servers_unbound == (("127.0.0.1", 4141),)

    def test_a_port_moving_to_another_router_keeps_its_socket(self) -> None:
        new = _edit(("port: 4140", "port: 4199"), ("port: 4141", "port: 4140"))
        plan = _plan(BASE, new)
        assert ("127.0.0.1", 4140) in plan.servers_kept
        assert "server 127.0.0.1:4140: moved from rt/http to rt/in" in plan.changes

    def test_port_zero_servers_are_known_by_router_and_position(self) -> None:
        old = BASE.replace("port: 4140", "port: 0")
        plan = _plan(old, old)
        assert ("127.0.0.1", 0, "http", 0) in plan.servers_kept

    @pytest.mark.parametrize("edit, refused", [
        pytest.param(("port: 9990", "port: 9991"),
                     "admin.port: the admin server cannot change without a restart",
                     id="admin port"),
        pytest.param(("namers:", "dtabStore: {kind: io.l5d.fs, dir: /tmp/d}\nnamers:"),
                     "dtabStore.kind, dtabStore.dir: the dtab store cannot change without a "
                     "restart", id="dtab store"),
    ])
    def test_admin_and_dtab_store_changes_are_refused(self, edit, refused) -> None:
        """Refused whole: the plan carries nothing else."""
        plan = _plan(BASE, _edit(edit, ("8080", "9090")))
        assert plan.refused == (refused,)
        assert plan.changes == () and plan.routers_kept == () and plan.dtabs == ()

    def test_config_reload_key_change_is_a_change(self) -> None:
        plan = _plan(BASE, BASE + "configReload: {watch: true}\n")
        assert plan.changes == ("configReload: watch",)
        assert plan.routers_kept == ("http", "in")

    def test_to_json_shows_servers(self) -> None:
        doc = _plan(BASE, _edit(("port: 4141", "port: 4143"))).to_json()
        assert doc["servers"] == {"kept": ["127.0.0.1:4140"], "bound": ["127.0.0.1:4143"],
                                  "unbound": ["127.0.0.1:4141"]}

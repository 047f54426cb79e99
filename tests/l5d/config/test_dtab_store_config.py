"""dtabStore and the admin's security keys: defaults, errors with line and key path,
/config.json round trips."""

from __future__ import annotations

import json

import pytest

from l5d.config import AdminConfig, ConfigError, DtabStoreConfig, parse_config

ROUTERS = "routers: [{protocol: http, servers: [{port: 4140}]}]\n"


def parse(top: str):
    return parse_config(top + ROUTERS, "l5d.yaml")


def test_defaults() -> None:
    config = parse("")
    assert config.dtab_store == DtabStoreConfig(kind="io.l5d.inMemory", history_size=20)
    assert (config.admin.token_file, config.admin.token_env, config.admin.read_only,
            config.admin.allowed_hosts) == (None, "L5D_ADMIN_TOKEN", False, ())


@pytest.mark.parametrize("top", [
    "dtabStore: {kind: io.l5d.inMemory, historySize: 3}\n",
    "dtabStore: {kind: io.l5d.fs, dir: .l5d/dtabs}\n",
    "dtabStore: {kind: io.l5d.k8s.configMap, namespace: l5d, name: dtabs, host: localhost, "
    "port: 8001}\n",
    "dtabStore:\n",
    "admin: {tokenFile: /run/secrets/l5d-token, readOnly: true, allowedHosts: [L5D.internal]}\n",
    "admin: {tokenEnv: MY_TOKEN}\n",
])
def test_round_trips_through_config_json(top: str) -> None:
    config = parse(top)
    assert parse_config(json.dumps(config.to_json())) == config


def test_values() -> None:
    fs = parse("dtabStore: {kind: io.l5d.fs, dir: d, historySize: 5}\n").dtab_store
    assert (fs.kind, fs.directory, fs.history_size) == ("io.l5d.fs", "d", 5)
    cm = parse("dtabStore: {kind: io.l5d.k8s.configMap}\n").dtab_store
    assert (cm.namespace, cm.name, cm.access.host) == ("default", "l5d-dtabs", None)
    admin = parse("admin: {allowedHosts: [L5D.internal, l5d]}\n").admin
    assert admin.allowed_hosts == ("l5d.internal", "l5d")


@pytest.mark.parametrize("top,message", [
    ("dtabStore: {kind: io.l5d.fs}\n", 'l5d.yaml:1: dtabStore: missing required key "dir"'),
    ("dtabStore:\n  kind: io.l5d.inMemory\n  dir: x\n",
     'l5d.yaml:3: dtabStore.dir: unknown key "dir" (known keys: historySize, kind)'),
    ("dtabStore: {kind: io.l5d.zk}\n",
     'l5d.yaml:1: dtabStore.kind: unknown kind "io.l5d.zk" (known kinds: io.l5d.inMemory, '
     'io.l5d.fs, io.l5d.k8s.configMap)'),
    ("dtabStore: {kind: io.l5d.fs, dir: d, historySize: 0}\n",
     "l5d.yaml:1: dtabStore.historySize: expected an integer >= 1, got 0"),
    ("dtabStore: {kind: io.l5d.k8s.configMap, dir: d}\n",
     'l5d.yaml:1: dtabStore.dir: unknown key "dir"'),
    ("admin:\n  allowedHosts: [ok, 'evil.example:9990']\n",
     'l5d.yaml:2: admin.allowedHosts[1]: expected a host name (no port, scheme or spaces), '
     'got "evil.example:9990"'),
    ("admin: {readOnly: yes please}\n",
     'l5d.yaml:1: admin.readOnly: expected a boolean, got "yes please"'),
    ("admin: {tokenFile: ''}\n", "l5d.yaml:1: admin.tokenFile: expected a non-empty string"),
])
def test_errors_name_the_line_and_key(top: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(top)
    assert str(caught.value).startswith(message), str(caught.value)


def test_values_built_in_code_are_checked() -> None:
    with pytest.raises(ValueError, match="dir"):
        DtabStoreConfig(kind="io.l5d.fs")
    with pytest.raises(ValueError, match="allowedHosts"):
        AdminConfig(allowed_hosts=["a"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tokenEnv"):
        AdminConfig(token_env="A=B")

"""l5d.main.admin_token: where the admin's bearer token comes from."""

from __future__ import annotations

import io
from pathlib import Path

from l5d.config import parse_config
from l5d.main import admin_token

ROUTERS = "routers: [{protocol: http, servers: [{port: 4140}]}]\n"


def config(admin: str = "{}"):
    return parse_config(f"admin: {admin}\n{ROUTERS}")


def test_from_the_environment_variable() -> None:
    err = io.StringIO()
    assert admin_token(config(), {"L5D_ADMIN_TOKEN": " t0k \n"}, err) == "t0k"
    assert admin_token(config("{tokenEnv: MY_TOKEN}"), {"MY_TOKEN": "x"}, err) == "x"
    assert admin_token(config(), {}, err) is None
    assert admin_token(config(), {"L5D_ADMIN_TOKEN": "  "}, err) is None
    assert err.getvalue() == ""


def test_from_the_file_which_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    path.chmod(0o600)
    err = io.StringIO()
    assert admin_token(config(f"{{tokenFile: '{path}'}}"), {"L5D_ADMIN_TOKEN": "env"},
                       err) == "from-file"
    assert err.getvalue() == ""
    path.chmod(0o644)
    assert admin_token(config(f"{{tokenFile: '{path}'}}"), {}, err) == "from-file"
    assert "can be read by other users (mode 644; chmod 600 it)" in err.getvalue()


def test_an_unreadable_file_leaves_writes_off(tmp_path: Path) -> None:
    err = io.StringIO()
    missing = tmp_path / "nope"
    assert admin_token(config(f"{{tokenFile: '{missing}'}}"), {"L5D_ADMIN_TOKEN": "env"},
                       err) is None
    assert f"cannot read admin.tokenFile {missing} (No such file or directory): admin " \
           f"writes are off" in err.getvalue()

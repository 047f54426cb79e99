"""l5d.config.access_log: Linkerd's httpAccessLog keys, read, checked and written back."""

from __future__ import annotations

import pytest

from l5d.config import ConfigError, LinkerConfig, RouterConfig, ServerConfig, parse_config
from l5d.config.access_log import AccessLogConfig, RollKind, RollPolicy
from l5d.config.checks import check_config


def _router(keys: str) -> str:
    return "routers:\n- protocol: http\n  servers: [{port: 0}]\n" + "".join(
        f"  {line}\n" for line in keys.splitlines())


class RollPolicyTests:
    """util-logging's Policy.parse forms, and nothing else."""

    @pytest.mark.parametrize("text, expected", [
        ("never", RollPolicy(RollKind.NEVER)),
        ("Never", RollPolicy(RollKind.NEVER)),
        ("hourly", RollPolicy(RollKind.HOURLY)),
        ("DAILY", RollPolicy(RollKind.DAILY)),
        ("sighup", RollPolicy(RollKind.SIGHUP)),
        ("weekly(1)", RollPolicy(RollKind.WEEKLY, weekday=1)),
        ("Weekly(7)", RollPolicy(RollKind.WEEKLY, weekday=7)),
        ("100.megabytes", RollPolicy(RollKind.SIZE, max_bytes=100 << 20)),
        ("1.gigabyte", RollPolicy(RollKind.SIZE, max_bytes=1 << 30)),
        ("3.Kilobytes", RollPolicy(RollKind.SIZE, max_bytes=3 << 10)),
        ("512.bytes", RollPolicy(RollKind.SIZE, max_bytes=512)),
        ("2.terabytes", RollPolicy(RollKind.SIZE, max_bytes=2 << 40)),
    ])
    def test_reads_linkerds_forms(self, text: str, expected: RollPolicy) -> None:
        """Each form Linkerd's docs list reads as its policy (case-insensitive)."""
        assert RollPolicy.read(text) == expected

    @pytest.mark.parametrize("text", [
        "100MiB", "100.mb", "1.5.megabytes", "weekly(8)", "weekly(0)", "weekly", "-1.megabytes",
        "0.megabytes", "monthly", "", "megabytes",
    ])
    def test_refuses_anything_else(self, text: str) -> None:
        """Forms util-logging would refuse (or would turn into a roll per line) are errors."""
        with pytest.raises(ValueError):
            RollPolicy.read(text)

    @pytest.mark.parametrize("text", ["never", "hourly", "daily", "sighup", "weekly(3)",
                                      "1.megabyte", "100.megabytes", "3.kilobytes", "7.bytes"])
    def test_show_reads_back(self, text: str) -> None:
        """show() prints the policy in the syntax read() takes."""
        policy = RollPolicy.read(text)
        assert policy.show() == text and RollPolicy.read(policy.show()) == policy
        assert eval(repr(policy)) == policy

    def test_weekday_name(self) -> None:
        """Java's day numbers: 1 is Sunday."""
        assert RollPolicy.read("weekly(1)").weekday_name == "Sunday"
        assert RollPolicy.read("weekly(7)").weekday_name == "Saturday"


class ReadTests:
    """The router keys in a whole config."""

    def test_absent_means_no_access_log(self) -> None:
        """Without httpAccessLog the router has none."""
        assert parse_config(_router("")).routers[0].access_log is None

    def test_defaults_are_linkerds(self) -> None:
        """never, append, keep every rolled file."""
        log = parse_config(_router("httpAccessLog: logs/access.log")).routers[0].access_log
        assert log == AccessLogConfig("logs/access.log", RollPolicy(), True, -1)

    def test_every_key(self) -> None:
        """The four keys as protocol-http.md's example writes them."""
        log = parse_config(_router(
            "httpAccessLog: access.log\nhttpAccessLogRollPolicy: daily\n"
            "httpAccessLogAppend: false\nhttpAccessLogRotateCount: 7")).routers[0].access_log
        assert log == AccessLogConfig("access.log", RollPolicy(RollKind.DAILY), False, 7)

    def test_to_json_writes_linkerds_keys_back(self) -> None:
        """config.json shows the keys as written; reading them back gives the same config."""
        text = _router("httpAccessLog: a.log\nhttpAccessLogRollPolicy: 10.megabytes\n"
                       "httpAccessLogRotateCount: 3")
        router = parse_config(text).routers[0]
        js = router.to_json()
        assert {k: v for k, v in js.items() if k.startswith("httpAccessLog")} == {
            "httpAccessLog": "a.log", "httpAccessLogRollPolicy": "10.megabytes",
            "httpAccessLogAppend": True, "httpAccessLogRotateCount": 3}
        assert "httpAccessLog" not in parse_config(_router("")).routers[0].to_json()

    @pytest.mark.parametrize("keys, message", [
        ("httpAccessLog: a.log\nhttpAccessLogRollPolicy: 100MiB",
         "linkerd.yaml:5: routers[0].httpAccessLogRollPolicy: unknown roll policy '100MiB' "
         "(expected never, hourly, daily, weekly(n) with n 1 = Sunday to 7 = Saturday, "
         "sighup, or a size such as 100.megabytes)"),
        ("httpAccessLog: a.log\nhttpAccessLogRotateCount: -2",
         "linkerd.yaml:5: routers[0].httpAccessLogRotateCount: expected an integer >= -1, "
         "got -2"),
        ("httpAccessLog: a.log\nhttpAccessLogAppend: yes please",
         'linkerd.yaml:5: routers[0].httpAccessLogAppend: expected a boolean, got "yes please"'),
        ("httpAccessLog: 17",
         "linkerd.yaml:4: routers[0].httpAccessLog: expected a string, got 17"),
        ("httpAccessLog: logs/",
         "linkerd.yaml:4: routers[0].httpAccessLog: expected a file name, got the directory "
         "'logs/'"),
        ("httpAccessLogRollPolicy: hourly(2)",
         "linkerd.yaml:4: routers[0].httpAccessLogRollPolicy: unknown roll policy 'hourly(2)' "
         "(expected never, hourly, daily, weekly(n) with n 1 = Sunday to 7 = Saturday, "
         "sighup, or a size such as 100.megabytes)"),
    ])
    def test_errors_name_the_key(self, keys: str, message: str) -> None:
        """A bad value is refused with the key path and line (the roll keys are checked even
        without a file)."""
        with pytest.raises(ConfigError) as info:
            parse_config(_router(keys), "linkerd.yaml")
        assert str(info.value) == message

    def test_two_routers_may_not_share_a_file(self) -> None:
        """Two writers on one file would roll it behind each other's back."""
        text = ("routers:\n"
                "- {protocol: http, label: a, httpAccessLog: logs/x.log, servers: [{port: 0}]}\n"
                "- {protocol: http, label: b, httpAccessLog: ./logs/../logs/x.log,\n"
                "   servers: [{port: 0}]}\n")
        with pytest.raises(ConfigError) as info:
            parse_config(text, "linkerd.yaml")
        assert str(info.value) == (
            'linkerd.yaml:3: routers[1].httpAccessLog: access log "./logs/../logs/x.log" is '
            "also written by routers[0] (give each router its own file)")

    def test_the_check_runs_on_configs_made_in_code(self) -> None:
        """check_config (run again by build) sees the shared file too."""
        log = AccessLogConfig("x.log")
        routers = tuple(RouterConfig(protocol="http", label=label, access_log=log,
                                     servers=(ServerConfig(port=0),)) for label in "ab")
        with pytest.raises(ConfigError, match="also written by routers"):
            check_config(LinkerConfig(routers=routers))

    @pytest.mark.parametrize("kwargs, field", [
        (dict(path=""), "path"),
        (dict(path="a.log", rotate_count=-3), "rotate_count"),
        (dict(path="a.log", roll_policy="daily"), "roll_policy"),
    ])
    def test_the_value_checks_itself(self, kwargs: dict, field: str) -> None:
        """Made in code, a bad value raises ValueError naming the field."""
        with pytest.raises(ValueError, match=field):
            AccessLogConfig(**kwargs)

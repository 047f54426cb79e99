"""Every error of a config at once, in file order, like a compiler's list.

Each error is ``file:line: key.path: message``; a ``kind`` is checked before the
keys under it; near-miss keys get "did you mean"; a ``#`` that made a comment
out of part of a dtab gets a hint; Linkerd features l5d leaves out are named
and point at docs/compat.md.
"""

from __future__ import annotations

import pickle
import textwrap

import pytest

from l5d.config import ConfigError, ConfigErrors, parse_config
from l5d.main import main


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "l5d.yaml")
    return str(info.value).splitlines()


SEVERAL = """\
    admin:
      portt: 9990
    routers:
    - protocol: http
      servers:
      - port: 41a0
      - port: 4141
        ip: nowhere
      identifier: {kind: io.l5d.path, segmets: 2}
      client:
        loadBalancer: {kind: ewma, decayTime: 5}
    - protocol: h2
      servers: [{port: 4142}]
      h2AccessLog: /dev/null
    namers:
    - kind: io.l5d.fs
      rootdir: disco
    - kind: io.l5d.consul
      host: consul
    telemetry:
    - kind: io.l5d.prometheus
      pth: /metrics
    """


class ErrorCollectionTests:
    """Several errors in one file are all reported, in file order."""

    def test_every_error_in_file_order(self) -> None:
        """Nine mistakes in nine places: nine lines, sorted by line."""
        assert errors_of(SEVERAL) == [
            'l5d.yaml:2: admin.portt: unknown key "portt"; did you mean "port"? (known keys: '
            'allowedHosts, ip, metricsSnapshotIntervalMs, port, readOnly, shutdownGraceMs, '
            'socketOptions, tls, tokenEnv, tokenFile, workerThreads)',
            'l5d.yaml:6: routers[0].servers[0].port: expected an integer, got "41a0"',
            'l5d.yaml:8: routers[0].servers[1].ip: expected an IP address, got "nowhere"',
            'l5d.yaml:9: routers[0].identifier.segmets: unknown key "segmets"; did you mean '
            '"segments"? (known keys: consume, kind, segments)',
            'l5d.yaml:11: routers[0].client.loadBalancer.decayTime: unknown key "decayTime"; '
            'did you mean "decayTimeMs"? (known keys: decayTimeMs, enableProbation, kind, '
            'maxEffort)',
            'l5d.yaml:12: routers[1].protocol: protocol "h2" is not supported by l5d '
            '(l5d routes HTTP/1.1 only; see docs/compat.md)',
            'l5d.yaml:17: namers[0].rootdir: unknown key "rootdir"; did you mean "rootDir"? '
            '(known keys: experimental, kind, prefix, rootDir, transformers)',
            'l5d.yaml:18: namers[1].kind: kind "io.l5d.consul" is not supported by l5d '
            '(no Consul namer; see docs/compat.md)',
            'l5d.yaml:22: telemetry[0].pth: unknown key "pth"; did you mean "path"? '
            '(known keys: kind, path, prefix)',
        ]

    def test_the_error_is_a_config_errors_holding_each_one(self) -> None:
        """``ConfigErrors`` acts as its first error and lists them all in ``errors``."""
        with pytest.raises(ConfigErrors) as info:
            parse_config(textwrap.dedent(SEVERAL), "l5d.yaml")
        err = info.value
        assert (err.line, err.key_path) == (2, "admin.portt")
        assert [e.line for e in err.errors] == [2, 6, 8, 9, 11, 12, 17, 18, 22]
        assert all(type(e) is ConfigError for e in err.errors)
        assert str(pickle.loads(pickle.dumps(err))) == str(err)

    def test_one_error_is_raised_as_itself(self) -> None:
        """A single mistake is not wrapped (its class, e.g. NoRoutersSpecified, is kept)."""
        with pytest.raises(ConfigError) as info:
            parse_config("admin: {port: 9990}\n", "l5d.yaml")
        assert type(info.value).__name__ == "NoRoutersSpecified"

    def test_a_misspelt_required_key_is_one_error(self) -> None:
        """``rootdir`` for ``rootDir`` is reported as the misspelling, not also as missing."""
        assert errors_of("""\
            namers:
            - {kind: io.l5d.fs, rootdir: disco}
            routers:
            - protocol: http
              servers: [{}]
            """) == [
            'l5d.yaml:2: namers[0].rootdir: unknown key "rootdir"; did you mean "rootDir"? '
            '(known keys: experimental, kind, prefix, rootDir, transformers)',
        ]

    def test_an_objects_own_check_is_reported_next_to_other_errors(self) -> None:
        """A check across an object's keys still runs when another object has errors."""
        assert errors_of("""\
            admin: {portt: 1}
            namers:
            - {kind: io.l5d.k8s, kubeconfig: /x, host: y}
            routers: [{protocol: http, servers: [{}]}]
            """) == [
            'l5d.yaml:1: admin.portt: unknown key "portt"; did you mean "port"? (known keys: '
            'allowedHosts, ip, metricsSnapshotIntervalMs, port, readOnly, shutdownGraceMs, '
            'socketOptions, tls, tokenEnv, tokenFile, workerThreads)',
            'l5d.yaml:3: namers[0]: kubeconfig cannot be combined with host/port or '
            'serviceAccount',
        ]

    def test_errors_inside_tls_objects_are_collected_with_the_rest(self) -> None:
        """A bad server or admin ``tls`` object is reported and reading goes on: the
        other keys of its server, and the other servers, are still checked."""
        found = errors_of(textwrap.dedent("""\
            admin:
              tls: {certPath: /a}
              portt: 1
            routers:
            - protocol: http
              servers:
              - port: 4140
                tls: {keyPath: /k}
              - port: 4141
                clearContxt: true
            """))
        assert [e.split(": ", 2)[:2] for e in found] == [
            ["l5d.yaml:2", "admin.tls"], ["l5d.yaml:3", "admin.portt"],
            ["l5d.yaml:8", "routers[0].servers[0].tls"],
            ["l5d.yaml:10", "routers[0].servers[1].clearContxt"]]

    def test_cross_checks_wait_for_a_clean_read(self) -> None:
        """Whole-config checks (conflicting ports) run only once every key reads."""
        text = """\
            routers:
            - protocol: http
              servers: [{port: 4140}]
            - protocol: http
              label: b
              servers: [{port: 4140}]
              dstPrefx: /x
            """
        assert errors_of(text) == [
            'l5d.yaml:7: routers[1].dstPrefx: unknown key "dstPrefx"; did you mean '
            '"dstPrefix"? (known keys: bindingCache, bindingTimeoutMs, client, '
            'compressionLevel, dstPrefix, dtab, experimental, httpAccessLog, '
            'httpAccessLogAppend, httpAccessLogRollPolicy, httpAccessLogRotateCount, identifier, '
            'interpreter, label, maxErrResponseKB, maxHeadersKB, maxInitialLineKB, '
            'maxRequestKB, originator, protocol, servers, service, streamAfterContentLengthKB, '
            'tracePropagator)',
        ]


class KindFirstTests:
    """An unknown or unsupported kind is named; the keys under it are not."""

    @pytest.mark.parametrize("block, message", [
        ("interpreter:\n    kind: io.l5d.namerd\n    dst: /$/inet/namerd/4100\n"
         "    namespace: default\n",
         'routers[0].interpreter.kind: kind "io.l5d.namerd" is not supported by l5d '
         '(namerd is not part of l5d; use the default interpreter with a dtab; '
         'see docs/compat.md)'),
        ("interpreter:\n    kind: io.l5d.mesh\n    dst: /$/inet/namerd/4321\n    root: /x\n",
         'routers[0].interpreter.kind: kind "io.l5d.mesh" is not supported by l5d '
         '(namerd is not part of l5d; use the default interpreter with a dtab; '
         'see docs/compat.md)'),
        ("identifier:\n    kind: io.l5d.hedaer.token\n    header: Host\n    extra: 1\n",
         'routers[0].identifier.kind: unknown kind "io.l5d.hedaer.token"; did you mean '
         '"io.l5d.header.token"?'),
    ])
    def test_kind_is_the_error(self, block: str, message: str) -> None:
        """One error, at the kind, whatever keys follow it."""
        text = "routers:\n- protocol: http\n  servers: [{}]\n  " + block
        (line,) = errors_of(text)
        assert line.startswith("l5d.yaml:5: " + message), line

    def test_thrift_router_keys_are_not_checked(self) -> None:
        """A thrift router is refused by its protocol, not by ``thriftProtocol``."""
        (line,) = errors_of("""\
            routers:
            - protocol: thrift
              thriftProtocol: binary
              servers: [{port: 4141, thriftFramed: true}]
            """)
        assert line == ('l5d.yaml:2: routers[0].protocol: protocol "thrift" is not supported '
                        'by l5d (l5d routes HTTP/1.1 only; see docs/compat.md)')


class DtabCommentHintTests:
    """A ``#`` that turned part of a dtab into a comment is pointed at."""

    def test_yaml_comment_in_a_plain_scalar(self) -> None:
        """``dtab: /svc => #/io.l5d.fs``: YAML drops ``#/io.l5d.fs``."""
        (line,) = errors_of("""\
            routers:
            - protocol: http
              dtab: /svc => #/io.l5d.fs
              servers: [{}]
            """)
        assert line == (
            "l5d.yaml:3: routers[0].dtab: simple expected but end of input found at "
            "'/svc =>[]' (hint: YAML read \"#/io.l5d.fs\" as a comment (a \"#\" after a "
            "space); quote the dtab or write it as a block (dtab: |); a namer path is "
            "\"/#/...\")")

    def test_dtab_comment_at_the_start_of_a_dentry(self) -> None:
        """In a block, ``#/io.l5d.fs;`` is a comment; the error names its line."""
        (line,) = errors_of("""\
            routers:
            - protocol: http
              dtab: |
                /svc => /$/inet/127.1/1;
                /host => #/io.l5d.fs;
                /x => /y;
              servers: [{}]
            """)
        assert line.startswith("l5d.yaml:6: routers[0].dtab: end of input expected but '=' ")
        assert line.endswith('(hint: the "#" on line 5 starts a comment to the end of its '
                             'line; a namer path is written "/#/...")')

    def test_whole_dtab_read_as_a_comment(self) -> None:
        """``dtab: #/svc => ...`` is an empty value in YAML: an error, not an empty dtab."""
        (line,) = errors_of("""\
            routers:
            - protocol: http
              dtab: #/svc => /#/io.l5d.fs
              servers: [{}]
            """)
        assert line == ('l5d.yaml:3: routers[0].dtab: YAML read "#/svc => /#/io.l5d.fs" as a '
                        'comment, so the value is empty; quote it or write it as a block '
                        '(dtab: |); a namer path is "/#/..."')

    def test_namer_paths_and_real_comments_are_fine(self) -> None:
        """``/#/...`` is a path, and ``# text`` lines are comments, as in Linkerd."""
        config = parse_config(textwrap.dedent("""\
            routers:
            - protocol: http
              dtab: |
                # the namer
                /svc => /#/io.l5d.fs;  # trailing comment
              servers: [{}]
            namers:
            - {kind: io.l5d.fs, rootDir: disco}
            """))
        assert config.routers[0].dtab.show() == "/svc=>/#/io.l5d.fs"


class ValidateTests:
    """``l5d --validate`` prints every error and exits non-zero."""

    def test_validate_prints_all_errors(self, tmp_path) -> None:
        """One line per error on stderr, exit status 1, nothing on stdout."""
        import io

        path = tmp_path / "l5d.yaml"
        path.write_text(textwrap.dedent(SEVERAL))
        out, err = io.StringIO(), io.StringIO()
        code = main(["--validate", str(path)], {}, stdout=out, stderr=err)
        assert code == 1
        assert out.getvalue() == ""
        lines = err.getvalue().splitlines()
        assert len(lines) == 9
        assert all(line.startswith(f"{path}:") for line in lines)

"""dtab.namers: Finagle's global ``/$/`` namer and Linkerd's built-in rewriting namers.

Rows 35-40 (Finagle ``NamerTest``) and 59-67 (Linkerd ``HostPortTest``,
``RinetTest``, ``HttpTest``) of reference section 3.5, plus their edge cases.
"""

from __future__ import annotations

import pytest

from dtab import (
    BUILTIN_KINDS,
    EMPTY,
    FAIL,
    NEG,
    Address,
    AddrBound,
    BoundName,
    Dtab,
    Failed,
    Interpreter,
    Leaf,
    Ok,
    Path,
    UnknownNamer,
    global_lookup,
    read_tree,
)


def bound(id_: str, residual: str, host: str, port: int) -> Ok:
    return Ok(
        Leaf(BoundName(Path.read(id_), Path.read(residual), AddrBound.of(Address(host, port))))
    )


def rewrite(path: str) -> Ok:
    return Ok(read_tree(path))


BOUND_CASES = [
    ("row35-port-only", "/$/inet/1234/foobar", bound("/$/inet/1234", "/foobar", "0.0.0.0", 1234)),
    (
        "row36-host-port",
        "/$/inet/127.0.0.1/1234",
        bound("/$/inet/127.0.0.1/1234", "/", "127.0.0.1", 1234),
    ),
    (
        "inet-short-ip-kept-in-id",
        "/$/inet/127.1/8080/a/b",
        bound("/$/inet/127.1/8080", "/a/b", "127.1", 8080),
    ),
    ("inet-hostname", "/$/inet/localhost/80", bound("/$/inet/localhost/80", "/", "localhost", 80)),
    ("inet-numeric-host-wins", "/$/inet/10/20/30", bound("/$/inet/10/20", "/30", "10", 20)),
    ("inet-port-zero", "/$/inet/h/0", bound("/$/inet/h/0", "/", "h", 0)),
    ("inet-port-max", "/$/inet/h/65535", bound("/$/inet/h/65535", "/", "h", 65535)),
    (
        "inet-port-too-big-falls-to-port-only",
        "/$/inet/80/65536",
        bound("/$/inet/80", "/65536", "0.0.0.0", 80),
    ),
    (
        "fixedinet",
        "/$/fixedinet/127.0.0.1/80/x",
        bound("/$/fixedinet/127.0.0.1/80", "/x", "127.0.0.1", 80),
    ),
    ("fixedinet-port-only", "/$/fixedinet/80", bound("/$/fixedinet/80", "/", "0.0.0.0", 80)),
    (
        "row63-rinet",
        "/$/io.buoyant.rinet/12345/localhost/residual",
        bound("/$/io.buoyant.rinet/12345/localhost", "/residual", "localhost", 12345),
    ),
    (
        "rinet-no-residual",
        "/$/io.buoyant.rinet/80/h",
        bound("/$/io.buoyant.rinet/80/h", "/", "h", 80),
    ),
]

OUTCOME_CASES = [
    ("row38-fail", "/$/fail", Ok(FAIL)),
    ("row38-fail-with-rest", "/$/fail/foo/bar", Ok(FAIL)),
    ("row39-nil", "/$/nil", Ok(EMPTY)),
    ("row39-nil-with-rest", "/$/nil/foo/bar", Ok(EMPTY)),
    ("row40-not-global", "/foo/bar", Ok(NEG)),
    ("dollar-alone", "/$", Ok(NEG)),
    ("empty-path", "/", Ok(NEG)),
    ("dollar-not-first", "/a/$/fail", Ok(NEG)),
    ("hash-paths-are-not-global", "/#/io.l5d.k8s/default/http/hello", Ok(NEG)),
    (
        "row59-hostportPfx",
        "/$/io.buoyant.hostportPfx/ia/127.1:8080/etc",
        rewrite("/ia/127.1/8080/etc"),
    ),
    (
        "row60-hostportPfx-named-port",
        "/$/io.buoyant.hostportPfx/ia/google.com:http/etc",
        rewrite("/ia/google.com/http/etc"),
    ),
    (
        "row61-hostportPfx-three-parts",
        "/$/io.buoyant.hostportPfx/ia/google.com:8180:abcdef/etc",
        Ok(NEG),
    ),
    ("hostportPfx-no-port", "/$/io.buoyant.hostportPfx/ia/127.1/etc", Ok(NEG)),
    ("hostportPfx-empty-port", "/$/io.buoyant.hostportPfx/ia/h:/etc", Ok(NEG)),
    ("hostportPfx-port-too-long", "/$/io.buoyant.hostportPfx/ia/h:" + "p" * 64, Ok(NEG)),
    (
        "hostportPfx-port-63",
        "/$/io.buoyant.hostportPfx/ia/h:" + "p" * 63,
        rewrite("/ia/h/" + "p" * 63),
    ),
    ("hostportPfx-no-rest", "/$/io.buoyant.hostportPfx/ia/h:80", rewrite("/ia/h/80")),
    ("hostportPfx-too-short", "/$/io.buoyant.hostportPfx/ia", Ok(NEG)),
    ("hostportPfx-nothing", "/$/io.buoyant.hostportPfx", Ok(NEG)),
    (
        "row62-porthostPfx",
        "/$/io.buoyant.porthostPfx/ia/127.1:8080/etc",
        rewrite("/ia/8080/127.1/etc"),
    ),
    ("porthostPfx-no-port", "/$/io.buoyant.porthostPfx/ia/127.1/etc", Ok(NEG)),
    ("rinet-port-not-a-number", "/$/io.buoyant.rinet/http/localhost", Ok(NEG)),
    ("rinet-no-host", "/$/io.buoyant.rinet/80", Ok(NEG)),
    (
        "row64-domainToPathPfx",
        "/$/io.buoyant.http.domainToPathPfx/pfx/foo.buoyant.io",
        rewrite("/pfx/io/buoyant/foo"),
    ),
    (
        "domainToPathPfx-port-stays-glued",
        "/$/io.buoyant.http.domainToPathPfx/pfx/foo.default:7777/x",
        rewrite("/pfx/default:7777/foo/x"),
    ),
    ("domainToPathPfx-bad-host", "/$/io.buoyant.http.domainToPathPfx/pfx/a%b", Ok(NEG)),
    (
        "domainToPath",
        "/$/io.buoyant.http.domainToPath/foo.buoyant.io/x",
        rewrite("/io/buoyant/foo/x"),
    ),
    (
        "row65-subdomainOfPfx",
        "/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar.a.b:9090/bah",
        rewrite("/foo/bar/bah"),
    ),
    (
        "subdomainOfPfx-named-port-dropped",
        "/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar.a.b:http/bah",
        rewrite("/foo/bar/bah"),
    ),
    (
        "subdomainOfPfx-other-domain",
        "/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar.c.d/bah",
        Ok(NEG),
    ),
    ("subdomainOfPfx-domain-itself", "/$/io.buoyant.http.subdomainOfPfx/a.b/foo/a.b/bah", Ok(NEG)),
    (
        "subdomainOfPfx-suffix-not-at-dot",
        "/$/io.buoyant.http.subdomainOfPfx/a.b/foo/xa.b/bah",
        Ok(NEG),
    ),
    ("subdomainOf", "/$/io.buoyant.http.subdomainOf/a.b/bar.a.b/x", rewrite("/bar/x")),
    ("row66-anyMethod", "/$/io.buoyant.http.anyMethod/GET/foo/bar/bah", rewrite("/foo/bar/bah")),
    ("row66-anyMethod-not-a-method", "/$/io.buoyant.http.anyMethod/A.B/foo/bar/bah", Ok(NEG)),
    ("anyMethod-lower-case", "/$/io.buoyant.http.anyMethod/get/foo", Ok(NEG)),
    ("anyMethodPfx", "/$/io.buoyant.http.anyMethodPfx/pfx/GET/x", rewrite("/pfx/x")),
    ("row67-anyHost", "/$/io.buoyant.http.anyHost/a.b/foo/bar/bah", rewrite("/foo/bar/bah")),
    ("row67-anyHost-not-a-host", "/$/io.buoyant.http.anyHost/a%b/foo/bar/bah", Ok(NEG)),
    ("anyHost-with-port", "/$/io.buoyant.http.anyHost/a.b:80/x", rewrite("/x")),
    ("anyHostPfx", "/$/io.buoyant.http.anyHostPfx/pfx/a.b/x", rewrite("/pfx/x")),
    ("anyHost-nothing", "/$/io.buoyant.http.anyHost", Ok(NEG)),
]

FAILED_CASES = [
    ("row37-inet-alone", "/$/inet", "inet"),
    ("inet-host-without-port", "/$/inet/localhost", "inet"),
    ("inet-port-out-of-range", "/$/inet/127.0.0.1/99999", "inet"),
    ("inet-named-port", "/$/inet/localhost/http", "inet"),
    ("unknown-kind", "/$/com.example.Namer/x", "com.example.Namer"),
]


class GlobalLookupTests:
    @pytest.mark.parametrize(
        "path,expected", [c[1:] for c in BOUND_CASES], ids=[c[0] for c in BOUND_CASES]
    )
    def test_bound_names(self, path, expected):
        """inet, fixedinet and rinet answer a bound leaf: the id, the residual, one address."""
        assert global_lookup(Path.read(path)) == expected

    @pytest.mark.parametrize(
        "path,expected", [c[1:] for c in OUTCOME_CASES], ids=[c[0] for c in OUTCOME_CASES]
    )
    def test_outcomes_and_rewrites(self, path, expected):
        """fail/nil give Fail/Empty, rewriting namers give a path or Neg, other paths are Neg."""
        assert global_lookup(Path.read(path)) == expected

    @pytest.mark.parametrize(
        "path,kind", [c[1:] for c in FAILED_CASES], ids=[c[0] for c in FAILED_CASES]
    )
    def test_unknown_namers_fail(self, path, kind):
        """A ``/$/`` path no built-in namer takes fails (Finagle: class not found); not Neg."""
        state = global_lookup(Path.read(path))
        assert isinstance(state, Failed)
        assert isinstance(state.error, UnknownNamer)
        assert state.error.kind == kind
        assert str(state.error) == f"Unknown namer: {kind} for path: {path}"

    def test_row35_unspecified_host_address(self):
        """Row 35: ``/$/inet/<port>`` is that port on the unspecified address, this host."""
        tree = global_lookup(Path.read("/$/inet/1234/foobar")).value
        assert [a.show() for a in tree.value.addr.addresses] == ["0.0.0.0:1234"]

    def test_short_ipv4_normalised_in_the_address(self):
        """``127.1`` stays in the id but the address shows as ``127.0.0.1`` (as Java reads it)."""
        tree = global_lookup(Path.read("/$/inet/127.1/8080")).value
        (address,) = tree.value.addr.addresses
        assert (address.host, address.ip, address.show()) == (
            "127.1",
            "127.0.0.1",
            "127.0.0.1:8080",
        )

    def test_builtin_kinds(self):
        """Every kind the global namer knows is listed."""
        assert BUILTIN_KINDS == {
            "inet",
            "fixedinet",
            "fail",
            "nil",
            "io.buoyant.rinet",
            "io.buoyant.hostportPfx",
            "io.buoyant.porthostPfx",
            "io.buoyant.http.domainToPath",
            "io.buoyant.http.domainToPathPfx",
            "io.buoyant.http.subdomainOf",
            "io.buoyant.http.subdomainOfPfx",
            "io.buoyant.http.anyMethod",
            "io.buoyant.http.anyMethodPfx",
            "io.buoyant.http.anyHost",
            "io.buoyant.http.anyHostPfx",
        }


class RewriteThroughDtabTests:
    def test_rewritten_path_is_delegated_again(self):
        """A rewriting namer's answer goes back through the dtab (row 59's result, then bound)."""
        dtab = Dtab.read("/svc=>/$/io.buoyant.hostportPfx/ia;/ia=>/$/inet")
        state = Interpreter().bind(dtab, Path.read("/svc/127.1:8080/etc"))
        assert state == bound("/$/inet/127.1/8080", "/etc", "127.1", 8080)

    def test_neg_rewrite_falls_back_in_an_alt(self):
        """A rewriting namer's Neg lets an Alt try its next branch."""
        dtab = Dtab.read("/svc=>/$/io.buoyant.http.anyMethod | /$/inet/9")
        state = Interpreter().bind(dtab, Path.read("/svc/lower/x"))
        assert state == bound("/$/inet/9", "/lower/x", "0.0.0.0", 9)

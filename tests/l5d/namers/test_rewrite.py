"""io.l5d.rewrite: a matching path becomes the name with its captures put in."""

from __future__ import annotations

import pytest

from dtab import NEG, Dtab, Interpreter, Leaf, Ok, Path
from dtab.bind import Namer
from l5d.namers.rewrite import RewriteNamer


class RewriteNamerTests:
    """The rows of Linkerd's RewritingNamerTest, in concrete syntax."""

    @pytest.mark.parametrize("pattern, name, path, result", [
        ("/one/two", "/success", "/one/two/three", "/success"),
        ("/one/*/three", "/success", "/one/two/three", "/success"),
        ("/{a}/{b}", "/x/{b}/{a}", "/one/two", "/x/two/one"),
        ("/{ns}/http/{svc}", "/svc/{svc}.{ns}", "/default/http/hello/extra", "/svc/hello.default"),
        ("/srv/{host}-{port}", "/$/inet/{host}/{port}", "/srv/web-8080", "/$/inet/web/8080"),
    ])
    def test_match_rewrites(self, pattern: str, name: str, path: str, result: str) -> None:
        """A match is a path leaf (bound on through the dtab); what follows is dropped."""
        namer = RewriteNamer(pattern, name)
        assert namer.lookup(Path.read(path)) == Ok(Leaf(Path.read(result)))

    @pytest.mark.parametrize("pattern, path", [
        ("/one/*/four", "/one/two/three"),
        ("/one/two", "/one"),
        ("/api/{svc}", "/web/x"),
    ])
    def test_mismatch_is_neg(self, pattern: str, path: str) -> None:
        """No match: NEG, so the next dentry or namer gets its turn."""
        assert RewriteNamer(pattern, "/x").lookup(Path.read(path)) == Ok(NEG)

    def test_is_a_namer_that_never_changes(self) -> None:
        """It satisfies the Namer protocol, and its generation stays 0."""
        namer = RewriteNamer("/{a}", "/b/{a}")
        assert isinstance(namer, Namer)
        assert namer.generation == 0

    def test_binds_through_the_dtab(self) -> None:
        """Through an interpreter: /svc/hello -> /#/rw/hello/api -> /srv/hello -> /$/inet."""
        rw = RewriteNamer("/{service}/api", "/srv/{service}")
        interp = Interpreter([(Path.read("/#/rw"), rw)])
        dtab = Dtab.read("/srv/hello=>/$/inet/127.0.0.1/8080;/svc/hello=>/#/rw/hello/api")
        state = interp.bind(dtab, Path.read("/svc/hello"))
        assert isinstance(state, Ok)
        assert "127.0.0.1" in repr(state.value)

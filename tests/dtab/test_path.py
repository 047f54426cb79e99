"""dtab.path: labels, concrete syntax and the sequence algebra of Path."""

from __future__ import annotations

import pickle

import pytest

from dtab import EMPTY_PATH, Path

# (concrete syntax read, labels, canonical show)
SHOW_CASES = [
    ("/", (), "/"),
    ("/foo/bar", ("foo", "bar"), "/foo/bar"),
    (
        "/#/io.l5d.k8s/default/http",
        ("#", "io.l5d.k8s", "default", "http"),
        "/#/io.l5d.k8s/default/http",
    ),
    ("/$/inet/127.1/8080", ("$", "inet", "127.1", "8080"), "/$/inet/127.1/8080"),
    ("/_:.#$%-/A9", ("_:.#$%-", "A9"), "/_:.#$%-/A9"),
    # a label with any non-label byte is shown entirely escaped, lower-case hex
    ("/a\\x20b", ("a b",), "/\\x61\\x20\\x62"),
    ("/\\x2F", ("/",), "/\\x2f"),
    ("/\\x2a", ("*",), "/\\x2a"),
    ("/\\x66\\x6f\\x6F", ("foo",), "/foo"),
    # non-ASCII labels are their UTF-8 bytes
    ("/\\xc3\\xa9t\\xc3\\xa9", ("été",), "/\\xc3\\xa9\\x74\\xc3\\xa9"),
    ("/\\xe2\\x98\\x83", ("\u2603",), "/\\xe2\\x98\\x83"),
    # bytes that are not UTF-8 survive as surrogate escapes
    ("/\\xff\\x00", ("\udcff\x00",), "/\\xff\\x00"),
]


class PathShowTests:
    @pytest.mark.parametrize("text,labels,shown", SHOW_CASES, ids=[c[0] for c in SHOW_CASES])
    def test_read_and_show(self, text, labels, shown):
        """A path reads into its labels and shows in canonical syntax, which reads back."""
        path = Path.read(text)
        assert path.elems == labels, text
        assert path.show() == shown, text
        assert Path.read(shown) == path, text

    def test_str_is_show_and_repr_reads_back(self):
        """``str`` is the concrete syntax and ``repr`` is an expression that rebuilds the path."""
        path = Path.of("svc", "a b")
        assert str(path) == path.show() == "/svc/\\x61\\x20\\x62"
        assert eval(repr(path), {"Path": Path}) == path

    def test_empty_path_is_slash(self):
        """The empty path shows as ``/`` and is falsy."""
        assert EMPTY_PATH == Path() == Path.read("/")
        assert EMPTY_PATH.show() == "/"
        assert not EMPTY_PATH and EMPTY_PATH.is_empty and len(EMPTY_PATH) == 0

    def test_labels_are_case_sensitive(self):
        """``/Foo`` and ``/foo`` are different paths."""
        assert Path.read("/Foo") != Path.read("/foo")

    def test_pickles(self):
        """Paths survive pickling (they are cache keys shared between processes in benchmarks)."""
        path = Path.read("/svc/\\xff")
        assert pickle.loads(pickle.dumps(path)) == path


class PathValidationTests:
    @pytest.mark.parametrize(
        "elems",
        [
            ("",),
            ("a", ""),
            (1,),
            ("\ud800",),  # a lone surrogate has no bytes at all
            ("\udcc3\udca9",),  # escaped bytes that are valid UTF-8 would read back as "é"
        ],
        ids=["empty", "empty-second", "not-str", "lone-surrogate", "non-canonical-escape"],
    )
    def test_rejects_labels_that_cannot_round_trip(self, elems):
        """Labels must be non-empty strings that reading their bytes gives back."""
        with pytest.raises(ValueError, match="elems"):
            Path(elems)

    def test_rejects_a_list(self):
        """``elems`` must be a tuple, so paths stay hashable."""
        with pytest.raises(ValueError, match="elems: expected a tuple, got list"):
            Path(["a"])  # type: ignore[arg-type]


class PathAlgebraTests:
    def test_concatenation(self):
        """``+`` appends labels; the empty path is the identity on both sides."""
        a, b = Path.read("/a/b"), Path.read("/c")
        assert a + b == Path.read("/a/b/c")
        assert a + EMPTY_PATH is a
        assert EMPTY_PATH + a is a

    def test_concatenation_with_a_non_path_is_a_type_error(self):
        """Adding a string is a mistake, not an implicit parse."""
        with pytest.raises(TypeError):
            Path.read("/a") + "/b"  # type: ignore[operator]

    @pytest.mark.parametrize(
        "path,n,taken,dropped",
        [
            ("/a/b/c", 0, "/", "/a/b/c"),
            ("/a/b/c", 2, "/a/b", "/c"),
            ("/a/b/c", 3, "/a/b/c", "/"),
            ("/a/b/c", 9, "/a/b/c", "/"),
            ("/", 1, "/", "/"),
        ],
    )
    def test_take_and_drop(self, path, n, taken, dropped):
        """``take(n)`` keeps the first n labels, ``drop(n)`` the rest; together, the path."""
        p = Path.read(path)
        assert p.take(n) == Path.read(taken)
        assert p.drop(n) == Path.read(dropped)
        assert p.take(n) + p.drop(n) == p

    @pytest.mark.parametrize(
        "path,prefix,expected",
        [
            ("/a/b", "/", True),
            ("/a/b", "/a", True),
            ("/a/b", "/a/b", True),
            ("/a/b", "/a/b/c", False),
            ("/a/b", "/b", False),
            ("/ab", "/a", False),  # label-wise, not character-wise
        ],
    )
    def test_startswith_is_label_wise(self, path, prefix, expected):
        """A prefix matches whole labels."""
        assert Path.read(path).startswith(Path.read(prefix)) is expected

    def test_sequence_protocol(self):
        """A path iterates over its labels and has their count as length."""
        p = Path.read("/x/y")
        assert list(p) == ["x", "y"] and len(p) == 2 and p

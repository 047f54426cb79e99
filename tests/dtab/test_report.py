"""dtab.report: the JSON report of a bound tree that ``l5d dtab bind`` prints."""

from __future__ import annotations

import json

import pytest

from dtab import (
    ADDR_NEG,
    ADDR_PENDING,
    EMPTY,
    FAIL,
    NEG,
    Address,
    AddrBound,
    AddrFailed,
    Alt,
    BoundName,
    Dtab,
    Interpreter,
    Leaf,
    Path,
    Union,
    Weighted,
    bind_report,
    read_tree,
    tree_json,
)


def bound(id_: str, residual: str, addr) -> Leaf:
    return Leaf(BoundName(Path.read(id_), Path.read(residual), addr))


def report_of(dtab: str, path: str) -> dict:
    state = Interpreter().bind(Dtab.read(dtab), Path.read(path))
    return bind_report(state.value)


class BindReportTests:
    def test_single_bound_name(self):
        """One bound name: result ``bound``, a leaf tree, one address with weight 1.0."""
        assert report_of("/svc=>/$/inet/127.0.0.1/8080", "/svc/x/y") == {
            "result": "bound",
            "tree": {"type": "leaf", "id": "/$/inet/127.0.0.1/8080", "residual": "/x/y"},
            "addrs": [
                {
                    "id": "/$/inet/127.0.0.1/8080",
                    "residual": "/x/y",
                    "weight": 1.0,
                    "addr": "127.0.0.1:8080",
                }
            ],
        }

    @pytest.mark.parametrize(
        "dtab,kind",
        [
            ("/svc=>~", "neg"),
            ("/other=>/x", "neg"),
            ("/svc=>!", "fail"),
            ("/svc=>/$/fail", "fail"),
            ("/svc=>$", "empty"),
            ("/svc=>/$/nil", "empty"),
        ],
    )
    def test_negative_results_have_no_addresses(self, dtab, kind):
        """Neg, Fail and Empty are results of their own, with no addresses."""
        assert report_of(dtab, "/svc/a") == {"result": kind, "tree": {"type": kind}, "addrs": []}

    def test_weighted_union(self):
        """A union lists its branches with weights, and each address with its branch's weight."""
        report = report_of("/svc=>0.7*/$/inet/127.0.0.1/8080 & 0.3*/$/inet/127.0.0.1/9090", "/svc")
        assert report == {
            "result": "bound",
            "tree": {
                "type": "union",
                "weighted": [
                    {
                        "weight": 0.7,
                        "tree": {"type": "leaf", "id": "/$/inet/127.0.0.1/8080", "residual": "/"},
                    },
                    {
                        "weight": 0.3,
                        "tree": {"type": "leaf", "id": "/$/inet/127.0.0.1/9090", "residual": "/"},
                    },
                ],
            },
            "addrs": [
                {
                    "id": "/$/inet/127.0.0.1/8080",
                    "residual": "/",
                    "weight": 0.7,
                    "addr": "127.0.0.1:8080",
                },
                {
                    "id": "/$/inet/127.0.0.1/9090",
                    "residual": "/",
                    "weight": 0.3,
                    "addr": "127.0.0.1:9090",
                },
            ],
        }

    def test_row50_innermost_weights(self):
        """Nested unions report each address with its innermost weight (as in row 50)."""
        report = report_of(
            "/a=>3*/b & /$/inet/7070 & /c;/b=>3*/$/inet/8080 & 2*/$/inet/9090;/c=>~", "/a"
        )
        assert [(a["addr"], a["weight"]) for a in report["addrs"]] == [
            ("0.0.0.0:8080", 3.0),
            ("0.0.0.0:9090", 2.0),
            ("0.0.0.0:7070", 1.0),
        ]

    def test_empty_union_branch_listed_in_tree_only(self):
        """An Empty branch stays in the tree but contributes no address."""
        report = report_of("/s=>/$/inet/1 & /$/nil", "/s")
        assert report["tree"]["weighted"][1] == {"weight": 1.0, "tree": {"type": "empty"}}
        assert [a["addr"] for a in report["addrs"]] == ["0.0.0.0:1"]

    @pytest.mark.parametrize(
        "addr,state",
        [
            (AddrBound(), "bound"),
            (ADDR_NEG, "neg"),
            (ADDR_PENDING, "pending"),
            (AddrFailed("boom"), "failed"),
        ],
        ids=["empty-set", "neg", "pending", "failed"],
    )
    def test_bound_name_without_addresses(self, addr, state):
        """A bound name with no usable address appears once, ``addr`` null and its state named."""
        report = bind_report(bound("/#/io.l5d.k8s/default/http/hello", "/", addr))
        assert report["result"] == "bound"
        assert report["addrs"] == [
            {
                "id": "/#/io.l5d.k8s/default/http/hello",
                "residual": "/",
                "weight": 1.0,
                "addr": None,
                "state": state,
            }
        ]

    def test_addresses_sorted(self):
        """Several addresses of one name are listed in (ip, port) order, IPv6 in brackets."""
        addr = AddrBound.of(
            Address("10.0.0.2", 80),
            Address("10.0.0.1", 81),
            Address("10.0.0.1", 80),
            Address("::1", 80),
        )
        report = bind_report(bound("/#/n/x", "/", addr))
        assert [a["addr"] for a in report["addrs"]] == [
            "10.0.0.1:80",
            "10.0.0.1:81",
            "10.0.0.2:80",
            "[::1]:80",
        ]

    def test_report_is_json(self):
        """The report serialises to JSON as is."""
        report = report_of("/s=>2*/$/inet/1 & /$/inet/2", "/s")
        assert json.loads(json.dumps(report)) == report


class TreeJsonTests:
    @pytest.mark.parametrize(
        "tree,expected",
        [
            (NEG, {"type": "neg"}),
            (FAIL, {"type": "fail"}),
            (EMPTY, {"type": "empty"}),
            (read_tree("/a/b"), {"type": "leaf", "id": "/a/b", "residual": "/"}),
            (
                read_tree("/a | ~"),
                {
                    "type": "alt",
                    "trees": [{"type": "leaf", "id": "/a", "residual": "/"}, {"type": "neg"}],
                },
            ),
            (
                Union((Weighted(2.0, FAIL),)),
                {"type": "union", "weighted": [{"weight": 2.0, "tree": {"type": "fail"}}]},
            ),
        ],
        ids=["neg", "fail", "empty", "unbound-path", "alt", "union"],
    )
    def test_tree_json(self, tree, expected):
        """Every node type has a JSON form, unbound paths and Alts included (for unbound trees)."""
        assert tree_json(tree) == expected

    def test_alt_selection_in_report(self):
        """For an unbound Alt the report follows evaluation: Neg branches skipped, a Fail stops."""
        b = bound("/b", "/", AddrBound.of(Address("h", 1)))
        c = bound("/c", "/", AddrBound.of(Address("h", 2)))
        assert [a["addr"] for a in bind_report(Alt((NEG, b, c)))["addrs"]] == ["h:1"]
        assert bind_report(Alt((FAIL, b)))["addrs"] == []

"""dtab: Finagle's naming and delegation (Path, Dtab, NameTree, binding), pure Python.

No I/O, no Twisted, stdlib only. See ``docs/dtab.md`` for the grammar and the
semantics with worked examples.
"""

from dtab.activity import PENDING, Failed, Ok, State
from dtab.bind import ADDR_WEIGHT_KEY, MAX_DEPTH, MAX_STEPS, Interpreter, Namer, bind
from dtab.cache import BindingCache
from dtab.delegate import (
    Delegate, DelegateAlt, DelegateEmpty, DelegateException, DelegateFail, DelegateLeaf,
    DelegateNeg, DelegateTree, DelegateUnion, DelegateWeighted, Transformation, delegate,
    render as render_delegate_tree, to_json as delegate_tree_json,
)
from dtab.dtab import ANY, EMPTY_DTAB, Dentry, Dtab, Prefix
from dtab.errors import BindDepthExceeded, BindTooLarge, DtabError, DtabParseError, UnknownNamer
from dtab.name import (
    ADDR_NEG, ADDR_PENDING, Addr, Address, AddrBound, AddrFailed, BoundName, normalize_ip,
)
from dtab.namers import BUILTIN_KINDS, global_lookup
from dtab.nametree import (
    EMPTY, FAIL, NEG, Alt, Leaf, NameTree, Union, Weighted, evaluate, map_tree, simplify,
)
from dtab.nametree import read as read_tree
from dtab.nametree import show as show_tree
from dtab.path import EMPTY_PATH, Path
from dtab.report import bind_report, tree_json
from dtab.transform import (
    LeafTransformer, TransformedNamer, Transformer, filter_bound, gateway_bound, port_bound,
    same_subnet, transform_all,
)

__all__ = [
    "ADDR_NEG", "ADDR_PENDING", "ADDR_WEIGHT_KEY", "ANY", "Addr", "Address", "AddrBound", "AddrFailed", "Alt",
    "BUILTIN_KINDS", "BindDepthExceeded", "BindTooLarge", "BindingCache", "BoundName",
    "Delegate", "DelegateAlt", "DelegateEmpty", "DelegateException", "DelegateFail",
    "DelegateLeaf", "DelegateNeg", "DelegateTree", "DelegateUnion", "DelegateWeighted",
    "Dentry", "Dtab", "DtabError", "DtabParseError", "EMPTY", "EMPTY_DTAB", "EMPTY_PATH",
    "FAIL", "Failed", "Interpreter", "Leaf", "LeafTransformer", "MAX_DEPTH", "MAX_STEPS", "NEG", "NameTree",
    "Namer", "Ok", "PENDING", "Path", "Prefix", "State", "Transformation", "TransformedNamer",
    "Transformer", "Union",
    "UnknownNamer", "Weighted", "bind", "bind_report", "delegate", "delegate_tree_json",
    "evaluate", "filter_bound", "gateway_bound", "global_lookup", "map_tree", "normalize_ip",
    "port_bound", "read_tree", "render_delegate_tree", "same_subnet", "show_tree", "simplify",
    "transform_all", "tree_json",
]

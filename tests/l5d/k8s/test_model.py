"""l5d.k8s.model: Endpoints, EndpointSlices and Services as the namer reads them (tables)."""

from __future__ import annotations

import pytest

from dtab import Address
from l5d.k8s.model import (
    EMPTY, Endpoint, endpoints_from_json, endpoints_from_slices, named_port, numbered_port,
    port_map_from_service,
)


def endpoints(*subsets: dict) -> dict:
    return {"kind": "Endpoints", "metadata": {"name": "web", "namespace": "ns"},
            "subsets": list(subsets)}


HTTP = {"name": "http", "port": 8080, "protocol": "TCP"}
ADMIN = {"name": "admin", "port": 9990}
UDP = {"name": "dns", "port": 53, "protocol": "UDP"}


def addr(ip: str, port: int, node: str | None = None) -> Address:
    return Address(ip, port, (("nodeName", node),) if node else ())


class EndpointsTests:
    def test_ready_addresses_with_their_node(self) -> None:
        eps = endpoints_from_json(endpoints({
            "addresses": [{"ip": "10.244.1.2", "nodeName": "n1"}, {"ip": "10.244.2.2"}],
            "notReadyAddresses": [{"ip": "10.244.3.9", "nodeName": "n3"}],
            "ports": [HTTP, ADMIN, UDP]}))
        assert named_port(eps, "http") == {addr("10.244.1.2", 8080, "n1"),
                                           addr("10.244.2.2", 8080)}
        assert named_port(eps, "admin") == {addr("10.244.1.2", 9990, "n1"),
                                            addr("10.244.2.2", 9990)}

    @pytest.mark.parametrize("obj", [None, {}, endpoints(), {"subsets": None},
                                     endpoints({"addresses": [], "ports": [HTTP]}),
                                     endpoints({"notReadyAddresses": [{"ip": "10.0.0.1"}],
                                                "ports": [HTTP]})],
                             ids=["absent", "empty-object", "no-subsets", "null-subsets",
                                  "no-addresses", "only-not-ready"])
    def test_nothing_ready_is_empty(self, obj) -> None:
        eps = endpoints_from_json(obj)
        assert eps == EMPTY and named_port(eps, "http") is None

    def test_udp_and_unknown_ports_are_absent(self) -> None:
        eps = endpoints_from_json(endpoints({"addresses": [{"ip": "10.0.0.1"}],
                                             "ports": [HTTP, UDP]}))
        assert named_port(eps, "dns") is None and named_port(eps, "nope") is None

    def test_a_named_port_pairs_only_the_addresses_of_its_subsets(self) -> None:
        eps = endpoints_from_json(endpoints(
            {"addresses": [{"ip": "10.0.0.1"}], "ports": [HTTP]},
            {"addresses": [{"ip": "10.0.0.2"}], "ports": [ADMIN]}))
        assert named_port(eps, "http") == {addr("10.0.0.1", 8080)}
        assert named_port(eps, "admin") == {addr("10.0.0.2", 9990)}

    def test_garbage_is_skipped(self) -> None:
        eps = endpoints_from_json(endpoints(
            {"addresses": [{"ip": ""}, "x", {"ip": 5}, {"ip": "10.0.0.1"}],
             "ports": [{"name": "http", "port": 0}, {"name": "http", "port": "80"}, HTTP]},
            "junk"))
        assert named_port(eps, "http") == {addr("10.0.0.1", 8080)}


def slice_v1(name: str, *eps: dict, ports=(HTTP,), address_type="IPv4") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "ns",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": address_type, "endpoints": list(eps), "ports": list(ports)}


class EndpointSliceTests:
    def test_v1_node_name_and_conditions(self) -> None:
        eps = endpoints_from_slices([slice_v1(
            "web-a",
            {"addresses": ["10.244.1.2"], "nodeName": "n1", "conditions": {"ready": True}},
            {"addresses": ["10.244.1.3"], "nodeName": "n1",
             "conditions": {"ready": False, "terminating": True}},
            {"addresses": ["10.244.2.2"]})])  # ready unset: ready
        assert named_port(eps, "http") == {addr("10.244.1.2", 8080, "n1"),
                                           addr("10.244.2.2", 8080)}

    def test_v1beta1_topology_hostname(self) -> None:
        eps = endpoints_from_slices([{
            "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
            "metadata": {"name": "web-b", "namespace": "ns"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.3.2"], "conditions": {"ready": True},
                           "topology": {"kubernetes.io/hostname": "n3"}}],
            "ports": [HTTP]}])
        assert named_port(eps, "http") == {addr("10.244.3.2", 8080, "n3")}

    def test_slices_are_subsets_and_fqdn_is_ignored(self) -> None:
        eps = endpoints_from_slices([
            slice_v1("a", {"addresses": ["10.0.0.1"]}),
            slice_v1("b", {"addresses": ["10.0.0.2"]}, ports=(ADMIN,)),
            slice_v1("c", {"addresses": ["web.example"]}, address_type="FQDN")])
        assert named_port(eps, "http") == {addr("10.0.0.1", 8080)}
        assert named_port(eps, "admin") == {addr("10.0.0.2", 9990)}
        assert endpoints_from_slices([]) == EMPTY


SERVICE = {"kind": "Service", "metadata": {"name": "web", "namespace": "ns"}, "spec": {"ports": [
    {"name": "http", "port": 80, "targetPort": 8080},
    {"name": "alt", "port": 81, "targetPort": "http"},
    {"name": "same", "port": 9990},
    {"name": "digits", "port": 82, "targetPort": "8080"},
    {"name": "dns", "port": 53, "protocol": "UDP"}]}}


class ServicePortTests:
    def test_port_map(self) -> None:
        assert port_map_from_service(SERVICE) == {80: 8080, 81: "http", 9990: 9990, 82: 8080}
        assert port_map_from_service(None) == {}

    @pytest.mark.parametrize("number,expected", [
        (80, {addr("10.0.0.1", 8080)}),  # numeric targetPort, on every ready address
        (81, {addr("10.0.0.1", 8080)}),  # named targetPort: looked up like a named port
        (9990, {addr("10.0.0.1", 9990)}),  # no targetPort: the port itself
        (53, None),  # UDP
        (443, None),  # not a Service port
    ])
    def test_numbered_port(self, number: int, expected) -> None:
        eps = endpoints_from_json(endpoints({"addresses": [{"ip": "10.0.0.1"}],
                                             "ports": [HTTP]}))
        assert numbered_port(eps, port_map_from_service(SERVICE), number) == expected

    def test_numbered_port_with_no_endpoints_is_absent(self) -> None:
        assert numbered_port(EMPTY, port_map_from_service(SERVICE), 80) is None

    def test_endpoint_metadata(self) -> None:
        assert Endpoint("10.0.0.1", "n1").address(80).meta_dict() == {"nodeName": "n1"}

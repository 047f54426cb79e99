"""l5d.telemetry.spans: a request record as Zipkin v2 spans."""

from __future__ import annotations


from l5d.telemetry.record import RequestRecord
from l5d.telemetry.spans import hex_id, record_spans

BASE = RequestRecord(
    router="out", started=1700000000.5, duration_us=2500, method="GET", uri="/a/b?c=1",
    version="1.1", host="hello", source="10.0.0.1:40000", status=200, ok=True,
    service="/svc/hello", client="/$/inet/10.0.0.9/8080", endpoint="10.0.0.9:8080",
    trace_id=0xAAAA, span_id=0xCCCC, parent_id=0xAAAA, sampled=True,
    client_sent=1700000000.5005)


def test_hex_ids() -> None:
    assert hex_id(0xAB) == "00000000000000ab"
    assert hex_id(1 << 64 | 2) == "00000000000000010000000000000002"


def test_a_new_trace_is_a_root_server_span_and_its_client_child() -> None:
    server, client = record_spans(BASE)
    assert server == {
        "traceId": "000000000000aaaa", "id": "000000000000aaaa", "kind": "SERVER",
        "name": "out /svc/hello", "timestamp": 1700000000500000, "duration": 2500,
        "localEndpoint": {"serviceName": "out"},
        "remoteEndpoint": {"ipv4": "10.0.0.1", "port": 40000},
        "tags": {"router.label": "out", "http.uri": "/a/b?c=1", "http.req.method": "GET",
                 "http.req.version": "HTTP/1.1", "http.req.host": "hello",
                 "service": "/svc/hello", "http.rsp.status": "200", "l5d.success": "1.0"},
    }
    assert client["traceId"] == "000000000000aaaa"
    assert (client["id"], client["parentId"], client["kind"]) == (
        "000000000000cccc", "000000000000aaaa", "CLIENT")
    assert client["name"] == "get"
    assert (client["timestamp"], client["duration"]) == (1700000000500500, 2000)
    assert client["remoteEndpoint"] == {"ipv4": "10.0.0.9", "port": 8080}
    assert client["tags"]["client"] == "/$/inet/10.0.0.9/8080"
    assert "shared" not in server and "shared" not in client and "parentId" not in server


def test_a_continued_trace_shares_the_incoming_span() -> None:
    """The server span has the incoming span's id and parent, and is marked shared."""
    rec = BASE._replace(trace_id=0x1, parent_id=0x2, server_parent_id=0x3, span_id=0x4)
    server, client = record_spans(rec)
    assert (server["id"], server["parentId"], server["shared"]) == (
        "0000000000000002", "0000000000000003", True)
    assert (client["id"], client["parentId"]) == ("0000000000000004", "0000000000000002")


def test_a_failure() -> None:
    """Zipkin's error tag and Linkerd's l5d.failure annotation, on both spans."""
    rec = BASE._replace(ok=False, status=502, error="connection refused")
    for span in record_spans(rec):
        assert span["tags"]["error"] == "connection refused"
        assert "l5d.success" not in span["tags"]
        assert span["annotations"] == [{"timestamp": 1700000000502500, "value": "l5d.failure"}]
    cut = record_spans(BASE._replace(ok=False, status=-1))[0]
    assert cut["tags"]["error"] == "connection closed" and "http.rsp.status" not in cut["tags"]


def test_answered_by_l5d_is_the_server_span_alone() -> None:
    rec = BASE._replace(span_id=0, client_sent=0.0, service="", status=400, ok=False,
                  error="Unknown destination")
    [server] = record_spans(rec)
    assert server["kind"] == "SERVER" and server["name"] == "get"


def test_no_trace_no_spans() -> None:
    assert record_spans(BASE._replace(trace_id=0)) == []


def test_durations_are_at_least_a_microsecond_and_inside_the_server_span() -> None:
    rec = BASE._replace(duration_us=0, client_sent=BASE.started + 5)
    server, client = record_spans(rec)
    assert server["duration"] == 1 and client["duration"] == 1
    assert client["timestamp"] == server["timestamp"]


def test_ipv6_and_odd_addresses() -> None:
    server, client = record_spans(BASE._replace(source="[::1]:5", endpoint="name:80"))
    assert server["remoteEndpoint"] == {"ipv6": "::1", "port": 5}
    assert "remoteEndpoint" not in client


def test_128_bit_trace_id() -> None:
    rec = BASE._replace(trace_id=1 << 100, parent_id=0x5)
    assert record_spans(rec)[0]["traceId"] == f"{1 << 100:032x}"


def test_names_and_service_names_are_lower_case() -> None:
    server, client = record_spans(BASE._replace(router="Out", service="/svc/Hello"))
    assert server["name"] == "out /svc/hello" and client["name"] == "get"
    assert server["localEndpoint"] == client["localEndpoint"] == {"serviceName": "out"}

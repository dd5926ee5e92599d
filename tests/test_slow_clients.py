"""Clients that are slow, vanish, or find the port taken, against real server processes: each
gets a clear outcome and none holds the server."""

import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from support.server import ServerProcess

PUSH = "/v2/contactinfo"


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (15 s at the most)."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def log_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.log().splitlines() if line.startswith("{")]


def test_a_request_whose_headers_never_end_is_closed_and_does_not_hold_the_server(
    start_server, tenant
):
    server = start_server(env={"PUSHAPI_HEADER_TIMEOUT_SECONDS": "1"})
    stalled = [connect(server) for _ in range(50)]
    for sock in stalled:
        sock.sendall(b"POST /v2/contactinfo HTTP/1.1\r\nHost: pushapi\r\nApiKey: x")
    answers = [read_all(sock) for sock in stalled]
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[0]
    for sock in stalled:
        sock.close()
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    # A connection that sends nothing at all is closed too.
    with connect(server) as idle:
        assert read_all(idle).startswith(b"HTTP/1.1 408")


def test_a_body_that_does_not_arrive_in_time_is_408_and_stores_nothing(start_server, tenant):
    server = start_server(env={"PUSHAPI_BODY_TIMEOUT_SECONDS": "1"})
    sock = connect(server)
    sock.sendall(
        b"POST /v2/contactinfo HTTP/1.1\r\nHost: pushapi\r\nContent-Type: application/json\r\n"
        + f"ApiKey: {tenant.api_key}\r\nContent-Length: 100\r\n\r\n".encode()
        + b'[{"ContactDetails"'
    )
    answer = read_all(sock).decode()
    sock.close()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert '"error":"request_timeout"' in answer
    log = httpx.get(f"{server.base_url}/v2/pushes", headers=tenant.headers).json()["items"]
    assert [entry["status"] for entry in log] == [408]
    assert log[0]["created"] == 0


def test_a_client_that_goes_away_mid_body_is_499_not_500_and_nothing_is_stored(
    start_server, tenant
):
    server = start_server()
    sock = connect(server)
    sock.sendall(
        b"POST /v2/contactinfo HTTP/1.1\r\nHost: pushapi\r\nContent-Type: application/json\r\n"
        + f"ApiKey: {tenant.api_key}\r\nContent-Length: 5000\r\n\r\n".encode()
        + b'[{"ContactDetails": {"ContactId": "gone", "LastName": "Away"}}'
    )
    time.sleep(0.5)  # the server is reading the body
    sock.close()
    deadline = time.monotonic() + 10
    access: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not access:
        access = [
            httpx.Response(200, content=line).json()
            for line in log_lines(server)
            if '"endpoint":"/v2/contactinfo"' in line
        ]
        time.sleep(0.1)
    assert [line["status"] for line in access] == [499]
    assert not any('"level":"error"' in line for line in log_lines(server))
    headers = tenant.headers
    assert httpx.get(f"{server.base_url}/v2/pushes", headers=headers).json()["items"] == []
    assert httpx.get(f"{server.base_url}/v2/contacts/gone", headers=headers).status_code == 404
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'status="499"' in metrics and 'status="500"' not in metrics


def test_serve_on_a_port_in_use_says_so_in_one_line(start_server, database_url):
    server = start_server()
    port = server.base_url.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "pushapi", "serve", "--port", port, "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"pushapi: error: port {port} of 127.0.0.1 is in use (is another server running?)"
    ]
    assert "serving on" not in done.stdout + done.stderr

"""The twin's loopback control endpoint, served for real and called with the runtime's client."""

import pytest

from so101_deploy.twin.control_endpoint import ControlServer, TwinClient


class _FakeWorld:
    """A stand-in world with the TwinControl shape (the real one is the MuJoCo twin, tested in test_twin_*)."""

    def __init__(self):
        self.resets, self.perturbations = [], {}

    def state(self):
        return {"success": False, "cube_pos": [0.2, 0.0, 0.015], "resets": len(self.resets)}

    def reset(self, seed=None):
        self.resets.append(seed)
        return {"ok": True, "seed": seed}

    def perturb(self, changes):
        unknown = set(changes) - {"latency_ms", "camera_offset"}
        if unknown:
            raise KeyError(f"unknown perturbation {sorted(unknown)}")
        self.perturbations.update(changes)
        return {"ok": True, **self.perturbations}


@pytest.fixture
def served():
    world = _FakeWorld()
    server = ControlServer(world).start()
    yield world, TwinClient(server.url)
    server.close()


def test_state_reset_perturb_round_trip(served):
    world, client = served
    assert client.url.startswith("http://127.0.0.1:")
    assert client.reset(seed=7) == {"ok": True, "seed": 7}
    assert client.state()["resets"] == 1 and world.resets == [7]
    assert client.perturb(latency_ms=30)["latency_ms"] == 30


def test_errors_are_reported_with_their_reason(served):
    _, client = served
    with pytest.raises(RuntimeError, match="unknown perturbation"):
        client.perturb(gravity=0)
    with pytest.raises(RuntimeError, match="unknown route"):
        client._call("/nope")


def test_unreachable_endpoint_says_so():
    server = ControlServer(_FakeWorld()).start()
    url = server.url
    server.close()
    with pytest.raises(ConnectionError, match="unreachable"):
        TwinClient(url, timeout_s=1).state()


# -- hostile or broken clients (issue 17, item 9): each answered with a status and a JSON reason -------------------
def _raw(url: str, request: bytes, timeout: float = 10.0) -> tuple[int, dict]:
    """Send raw bytes to the endpoint; (status, JSON body) of the answer."""
    import json
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data, "the connection was dropped without an answer"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post(
    path: str, body: bytes, *, host="127.0.0.1", content_type="application/json", length=None, extra=""
):
    length = len(body) if length is None else length
    ctype = f"Content-Type: {content_type}\r\n" if content_type else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{ctype}Content-Length: {length}\r\n{extra}\r\n".encode()
        + body
    )


@pytest.mark.parametrize("body", [b"[1, 2]", b'"seed"', b"3", b"null", b"{", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400_not_a_dropped_connection(served, body):
    world, client = served
    for route in ("/reset", "/perturb"):
        status, reply = _raw(client.url, _post(route, body))
        assert status == 400 and reply["error"], reply
    assert world.resets == [] and world.perturbations == {}


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", ""])
def test_a_bad_content_length_is_400(served, length):
    _, client = served
    status, reply = _raw(client.url, _post("/reset", b"{}", length=length))
    assert status == 400 and "Content-Length" in reply["error"]


def test_an_oversized_body_is_refused_before_it_is_read(served):
    _, client = served
    status, reply = _raw(client.url, _post("/perturb", b"{}", length=300_000_000), timeout=5)
    assert status == 413 and "limit" in reply["error"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"latency_ms": NaN}',
        b'{"latency_ms": Infinity}',
        b'{"latency_ms": -Infinity}',
        b'{"latency_ms": 1e999}',
    ],
)
def test_nan_and_infinity_are_refused(served, body):
    world, client = served
    status, reply = _raw(client.url, _post("/perturb", body))
    assert status == 400 and "finite" in reply["error"]
    assert world.perturbations == {}


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (_post("/perturb", b'{"latency_ms": 5}', content_type="text/plain"), 415),
        (_post("/perturb", b'{"latency_ms": 5}', content_type=""), 415),
        (_post("/perturb", b'{"latency_ms": 5}', host="attacker.example:8080"), 403),
        (_post("/perturb", b'{"latency_ms": 5}', extra="Origin: http://attacker.example\r\n"), 403),
        (b"GET /state HTTP/1.1\r\nHost: rebound.example\r\n\r\n", 403),
        (b"GET /state HTTP/1.0\r\n\r\n", 403),
    ],
)
def test_only_json_from_loopback_drives_it(served, request_bytes, status):
    """A web page on the machine can reach 127.0.0.1: it cannot send application/json without a CORS preflight
    (never granted), and a DNS-rebound page sends its own Host name."""
    world, client = served
    got, reply = _raw(client.url, request_bytes)
    assert got == status, reply
    assert world.perturbations == {}


def test_loopback_names_and_origins_are_accepted(served):
    world, client = served
    for host in ("localhost:1234", "[::1]:80", "127.0.0.1"):
        status, _ = _raw(client.url, _post("/perturb", b'{"latency_ms": 5}', host=host))
        assert status == 200
    status, _ = _raw(client.url, _post("/reset", b"{}", extra="Origin: http://127.0.0.1:8000\r\n"))
    assert status == 200


@pytest.mark.parametrize("seed", ["-1", '"7"', "true", "1.5"])
def test_reset_seed_must_be_a_non_negative_integer(served, seed):
    world, client = served
    status, reply = _raw(client.url, _post("/reset", b'{"seed": %s}' % seed.encode()))
    assert status == 400 and "seed" in reply["error"]
    assert world.resets == []


def test_stalled_clients_do_not_pile_up_threads(served):
    """On main 101 clients that connect and send nothing held 101 handler threads, for ever."""
    import socket
    import threading
    import time
    from urllib.parse import urlsplit

    _, client = served
    parts = urlsplit(client.url)
    before = threading.active_count()
    stalled = [socket.create_connection((parts.hostname, parts.port), timeout=5) for _ in range(101)]
    try:
        time.sleep(0.5)
        assert threading.active_count() <= before + 16
        deadline = time.monotonic() + 10
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert threading.active_count() <= before, "stalled clients were never timed out"
        assert client.reset(seed=1) == {"ok": True, "seed": 1}  # and it still serves
    finally:
        for sock in stalled:
            sock.close()


# -- /perturb on the real twin world: all or nothing ------------------------------------------------------------
@pytest.fixture(scope="module")
def world_served():
    from sim.config import EnvConfig

    from so101_deploy.twin.world import TwinWorld, WorldConfig

    world = TwinWorld(WorldConfig(env=EnvConfig(obs="state")))
    server = ControlServer(world).start()
    yield world, TwinClient(server.url)
    server.close()


def _scene(world):
    import numpy as np

    m = world.model
    return [np.array(a, copy=True) for a in (m.light_diffuse, m.light_dir, m.cam_pos, m.cam_quat, m.geom_rgba,
                                             m.geom_matid, m.vis.headlight.diffuse, m.vis.headlight.ambient)]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"latency_ms": 40, "backlash_deg": "wide"},
        {"latency_ms": 40, "joint_noise_deg": -1},
        {"latency_ms": 40, "light_scale": 1e6},
        {"light_scale": 0.5, "camera_offset": [0.01, 0, 0, 0, 0]},
        {"light_scale": 0.5, "table_texture": "marble"},
        {"light_scale": 0.5, "lighting": {"dir": [0, 0, 0]}},
        {"light_scale": 0.5, "lighting": {"diffuse": [1, 1]}},
        {"light_scale": 0.5, "table_rgba": [0.2, 0.2, 0.2, 7]},
        {"light_scale": 0.5, "gravity": 0},
    ],
)
def test_a_rejected_perturbation_changes_nothing(world_served, bad):
    import numpy as np

    world, client = world_served
    client.perturb(latency_ms=10.0, light_scale=1.0, table_texture="grid")
    before_state, before_scene = client.state()["perturbations"], _scene(world)
    with pytest.raises(RuntimeError, match="twin control /perturb"):
        client.perturb(**bad)
    assert client.state()["perturbations"] == before_state
    for was, now in zip(before_scene, _scene(world), strict=True):
        np.testing.assert_array_equal(was, now)


def test_one_bad_value_does_not_wedge_perturb(world_served):
    """On main a bad visual value stayed stored: every later /perturb failed until all visual keys were reset."""
    world, client = world_served
    with pytest.raises(RuntimeError):
        client.perturb(table_texture="marble")
    assert client.perturb(latency_ms=30.0)["perturbations"]["latency_ms"] == 30.0
    assert client.perturb(table_texture="blotch", light_scale=0.7)["visual"] == {"table_texture": "blotch"}
    assert world.perturbations.light_scale == 0.7


def test_a_perturbation_that_fails_half_way_is_rolled_back(world_served, monkeypatch):
    """Validation catches bad values up front; should applying still fail half-way, nothing of it stays."""
    import numpy as np

    import so101_deploy.twin.world as world_module

    world, client = world_served
    client.perturb(
        latency_ms=10.0, light_scale=1.0, lighting={"headlight": [0.3, 0.3, 0.3]}, table_texture="grid"
    )
    before_state, before_scene = client.state()["perturbations"], _scene(world)
    real = world_module.apply_visual_perturbation

    def half_way(model, perturbation):
        snapshot = real(model, perturbation)  # changes the scene, then fails like a bug would
        if perturbation:
            raise RuntimeError("injected failure")
        return snapshot

    monkeypatch.setattr(world_module, "apply_visual_perturbation", half_way)
    with pytest.raises(RuntimeError, match="injected failure"):
        world.perturb({"light_scale": 0.5, "lighting": {"dir": [1, 0, -1], "diffuse": [0.9, 0.2, 0.2]}})
    monkeypatch.setattr(world_module, "apply_visual_perturbation", real)
    assert client.state()["perturbations"] == before_state
    for was, now in zip(before_scene, _scene(world), strict=True):
        np.testing.assert_array_equal(was, now)
    assert client.perturb(light_scale=0.8)["visual"] == {
        "lighting": {"headlight": [0.3, 0.3, 0.3]},
        "table_texture": "grid",
    }

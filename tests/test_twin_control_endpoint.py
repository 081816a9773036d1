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

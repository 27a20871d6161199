"""The per-client limiter of public writes, and who counts as the client."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from hub.api.guard import ClientLimiter, client_address


def test_a_bucket_refills_at_its_rate_and_says_how_long_to_wait():
    limiter = ClientLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=100.0) == 0.5
    assert limiter.take("b", now=100.0) == 0.0  # another client, another bucket
    assert limiter.take("a", now=100.6) == 0.0  # refilled 1.2 tokens
    assert 0 < limiter.take("a", now=100.6) <= 0.5
    assert limiter.take("a", now=200.0) == 0.0  # never more than the burst after a long pause
    assert [limiter.take("a", now=200.0) for _ in range(3)][-1] > 0


def test_the_limiter_forgets_the_least_recent_clients_first():
    limiter = ClientLimiter(rate=1.0, burst=1, max_clients=2)
    limiter.take("a", now=0.0)
    limiter.take("b", now=0.0)
    limiter.take("a", now=0.0)  # a is the most recent now
    limiter.take("c", now=0.0)  # b is forgotten, a is not
    assert limiter.take("a", now=0.0) > 0
    assert limiter.take("b", now=0.0) == 0.0


def request(peer: str, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    transport = type("T", (), {"get_extra_info": lambda self, name, default=None: (peer, 1234) if name == "peername" else default})()
    return make_mocked_request("POST", "/v1/participants", headers=headers, transport=transport)


def test_forwarded_addresses_count_only_from_a_trusted_proxy():
    assert client_address(request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    assert client_address(request("10.0.0.2", "198.51.100.1, 198.51.100.9"), ["10.0.0.0/8"]) == "198.51.100.9"
    assert client_address(request("10.0.0.2", "not an address"), ["10.0.0.0/8"]) == "10.0.0.2"
    assert client_address(request("10.0.0.2", "2001:db8::1"), ["10.0.0.2"]) == "2001:db8::1"
    assert client_address(request("192.0.2.1", "198.51.100.1"), ["10.0.0.0/8", "bogus"]) == "192.0.2.1"

"""The simulator must behave like the API contract in NOTES.md, over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from conftest import FakeClock, small_org  # the suite's shared fake clock and org

from cuadra_top.simulator import Fault, Simulator, demo_orgs

START = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc).timestamp()
MIB = 1024 * 1024
GIB = 1024 * MIB
TIB = 1024 * GIB

USAGE_KEYS = {"storage", "credits", "plan"}
CREDIT_KEYS = {
    "used", "limit", "available", "overageCredits", "isInOverage", "hardCap",
    "billingPeriod", "periodStart", "periodEnd",
}
ADMIN_CREDIT_KEYS = {"purchasedBalance", "totalAvailable"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}




@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock):
    orgs = demo_orgs() + [
        small_org("limited", rate_limit_per_minute=3),
        small_org("noscope", scopes=("org:admin",)),
        small_org("unlimited", credit_limit=None, storage_limit=0),
        small_org("oauth-short", client_id="short-id", client_secret="short-secret", token_ttl=60),
    ]
    s = Simulator(orgs, seed=42, clock=clock).start()
    s.flaky_latency = (0.0, 0.002)
    yield s
    s.stop()
    assert s.errors == []


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.base_url, timeout=3.0) as c:
        yield c


def get_usage(client: httpx.Client, token: str, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
    return client.get("/v1/usage", headers={**bearer(token), **(headers or {})}, **kw)


def token_for(client: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return client.post(
        "/v1/oauth2/token",
        json={"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"},
    )


# -- demo orgs and response shape ------------------------------------------------


def test_demo_orgs_match_the_brief():
    orgs = {o.name: o for o in demo_orgs()}
    assert {"acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs"} <= set(orgs)
    acme, nimbus, globex, flaky = (orgs[n] for n in ("acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs"))
    assert (acme.tier, acme.plan_name, acme.credit_limit, acme.storage_limit) == ("free", "Free", 1_000, 100 * MIB)
    assert 0.30 <= acme.credits_used_at_start / acme.credit_limit <= 0.40
    assert acme.token == "demo-acme-free-token"
    assert (nimbus.tier, nimbus.plan_name, nimbus.credit_limit, nimbus.storage_limit) == ("pro", "Pro", 50_000, 50 * GIB)
    assert 0.80 < nimbus.credits_used_at_start / nimbus.credit_limit < 0.88
    assert 0.35 <= nimbus.storage_used_at_start / nimbus.storage_limit <= 0.45
    assert nimbus.token == "demo-nimbus-pro-token"
    assert globex.admin and globex.tier == "enterprise" and globex.plan_name == "Enterprise"
    assert globex.credit_limit == 500_000 and globex.credits_used_at_start > globex.credit_limit
    assert (globex.purchased_balance, globex.seats, globex.credits_per_seat) == (10_000, 40, 12_500)
    assert globex.storage_limit == TIB and globex.token == "demo-globex-token"
    assert (globex.client_id, globex.client_secret) == ("demo-globex-client", "demo-globex-secret")
    assert flaky.flaky and flaky.tier == "pro" and flaky.plan_name == "Professional"
    assert flaky.credit_limit == 20_000 and flaky.token == "demo-flaky-token"
    capped = orgs["initech-capped"]  # the whole chain, down to a projected 402 (issue 11)
    assert capped.admin and capped.hard_cap and 0 < capped.purchased_balance < capped.credit_limit / 4
    assert capped.credit_limit - capped.credits_used_at_start < capped.burn_per_hour * 24
    for org in orgs.values():
        # Numbers must visibly move within a minute of demo.
        assert org.burn_per_hour >= 60
        assert not org.admin or org in (globex, capped)


@pytest.mark.parametrize("name", ["acme-free", "nimbus-pro", "globex-enterprise"])
def test_usage_shape(sim, client, name):
    org = sim.orgs[name]
    r = get_usage(client, org.token)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    credits = body["credits"]
    if org.admin:
        assert set(body) == USAGE_KEYS | {"seats"}
        assert set(credits) == CREDIT_KEYS | ADMIN_CREDIT_KEYS
        assert body["seats"] == {"count": 40, "creditsPerSeat": 12_500}
        assert credits["totalAvailable"] == credits["available"] + credits["purchasedBalance"]
    else:
        assert set(body) == USAGE_KEYS
        assert set(credits) == CREDIT_KEYS
    assert set(body["storage"]) == {"used", "limit"}
    assert body["storage"] == {"used": org.storage_used_at_start, "limit": org.storage_limit}
    assert body["plan"] == {"tier": org.tier, "name": org.plan_name, "billingCycle": "monthly"}
    assert credits["used"] == org.credits_used_at_start
    assert credits["limit"] == org.credit_limit
    assert credits["billingPeriod"] == "monthly"
    assert credits["periodStart"] == "2026-04-01T00:00:00Z"
    assert credits["periodEnd"] == "2026-04-30T23:59:59Z"
    assert credits["hardCap"] is False
    for value in (*body["storage"].values(), credits["used"], credits["available"], credits["overageCredits"]):
        assert type(value) is int
    assert body == sim.usage_for(name)


def test_usage_numbers_per_org(sim, client):
    acme = get_usage(client, "demo-acme-free-token").json()["credits"]
    assert acme["available"] == 650 and acme["isInOverage"] is False and acme["overageCredits"] == 0
    nimbus = get_usage(client, "demo-nimbus-pro-token").json()
    assert nimbus["credits"]["used"] / nimbus["credits"]["limit"] > 0.80
    globex = get_usage(client, "demo-globex-token").json()["credits"]
    # The docs' order: past the limit, the purchased balance pays first; overage is what is left.
    assert globex["used"] - globex["limit"] == 12_000
    assert globex["purchasedBalance"] == 0 and globex["totalAvailable"] == 0
    assert globex["isInOverage"] is True and globex["overageCredits"] == 12_000 - 10_000
    assert globex["available"] == 0
    capped = get_usage(client, "demo-initech-token").json()["credits"]
    assert capped["hardCap"] is True and capped["isInOverage"] is False and capped["overageCredits"] == 0
    assert capped["available"] == 1_800 and capped["purchasedBalance"] == 2_500


def test_flaky_org_shape_when_it_answers(sim, client):
    for _ in range(50):
        r = get_usage(client, "demo-flaky-token")
        if r.status_code == 200:
            break
    assert r.status_code == 200
    body = r.json()
    assert set(body) == USAGE_KEYS and set(body["credits"]) == CREDIT_KEYS
    assert body["plan"]["name"] == "Professional"
    assert body["credits"]["used"] / body["credits"]["limit"] == pytest.approx(0.5, abs=0.05)


def test_unlimited_limits_are_null(client):
    body = get_usage(client, "unlimited-token").json()
    assert body["storage"]["limit"] is None
    assert body["credits"]["limit"] is None and body["credits"]["available"] is None
    assert body["credits"]["isInOverage"] is False and body["credits"]["overageCredits"] == 0


def test_extra_fields_are_merged_at_top_level(clock):
    org = small_org(extra_fields={"restrictions": {"maxAgents": 5}, "newThing": 1})
    with Simulator([org], clock=clock) as sim, httpx.Client(base_url=sim.base_url) as c:
        body = get_usage(c, org.token).json()
    assert body["restrictions"] == {"maxAgents": 5} and body["newThing"] == 1
    assert USAGE_KEYS <= set(body)


# -- auth and routing --------------------------------------------------------------


def assert_problem(r: httpx.Response, status: int, title: str | None = None, detail: str | None = None) -> dict:
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"] == "about:blank" and doc["status"] == status
    if title is not None:
        assert doc["title"] == title
    if detail is not None:
        assert doc["detail"] == detail
    return doc


@pytest.mark.parametrize("headers", [{}, bearer("nope"), {"Authorization": "Basic demo-acme-free-token"},
                                     {"Authorization": "Bearer"}])
def test_401_on_missing_or_bad_token(client, headers):
    r = client.get("/v1/usage", headers=headers)
    doc = assert_problem(r, 401, "Unauthorized", "Invalid or expired token.")
    assert doc == {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "Invalid or expired token."}
    assert r.headers["www-authenticate"] == "Bearer"


def test_403_on_missing_scope(sim, client):
    r = get_usage(client, "noscope-token")
    assert_problem(r, 403, "Forbidden", "Missing required scope: usage:read")
    assert sim.requests("noscope")[-1].status == 403


def test_404_and_405(client):
    assert_problem(client.get("/v1/nothing", headers=bearer("demo-acme-free-token")), 404, "Not Found")
    assert_problem(client.get("/v1/usage/", headers=bearer("demo-acme-free-token")), 404)
    r = client.post("/v1/usage", headers=bearer("demo-acme-free-token"))
    assert_problem(r, 405, "Method Not Allowed")
    assert r.headers["allow"] == "GET"
    r = client.get("/v1/oauth2/token")
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"


def test_query_string_is_ignored_for_routing(client):
    assert client.get("/v1/usage?x=1", headers=bearer("demo-acme-free-token")).status_code == 200


# -- OAuth client credentials ----------------------------------------------------------


def test_oauth_issue_use_expire(sim, client, clock):
    r = token_for(client, "short-id", "short-secret")
    assert r.status_code == 200
    grant = r.json()
    assert set(grant) == {"access_token", "token_type", "expires_in", "scope"}
    assert grant["token_type"] == "bearer" and grant["expires_in"] == 60 and grant["scope"] == "usage:read"
    assert len(grant["access_token"]) >= 32
    r = get_usage(client, grant["access_token"])
    assert r.status_code == 200 and r.json() == sim.usage_for("oauth-short")
    assert sim.requests("oauth-short", "/v1/usage")[-1].status == 200
    clock.advance(59)
    assert get_usage(client, grant["access_token"]).status_code == 200
    clock.advance(1)
    assert_problem(get_usage(client, grant["access_token"]), 401, "Unauthorized", "Invalid or expired token.")
    # Asking again with the same credentials gives a fresh, working token.
    fresh = token_for(client, "short-id", "short-secret").json()["access_token"]
    assert fresh != grant["access_token"]
    assert get_usage(client, fresh).status_code == 200


def test_oauth_form_body_and_basic_auth(client):
    r = client.post("/v1/oauth2/token", data={"client_id": "demo-globex-client",
                                              "client_secret": "demo-globex-secret",
                                              "grant_type": "client_credentials"})
    assert r.status_code == 200 and r.json()["expires_in"] == 3600
    r = client.post("/v1/oauth2/token", data={"grant_type": "client_credentials"},
                    auth=("demo-globex-client", "demo-globex-secret"))
    assert r.status_code == 200
    body = get_usage(client, r.json()["access_token"]).json()
    assert "purchasedBalance" in body["credits"]


def test_oauth_revoke(sim, client):
    a = token_for(client, "demo-globex-client", "demo-globex-secret").json()["access_token"]
    b = token_for(client, "demo-globex-client", "demo-globex-secret").json()["access_token"]
    other = token_for(client, "short-id", "short-secret").json()["access_token"]
    sim.revoke_tokens("globex-enterprise")
    assert_problem(get_usage(client, a), 401)
    assert_problem(get_usage(client, b), 401)
    assert get_usage(client, other).status_code == 200
    # The static token is not an issued OAuth token.
    assert get_usage(client, "demo-globex-token").status_code == 200


def test_oauth_errors(client):
    r = token_for(client, "demo-globex-client", "wrong")
    assert_problem(r, 401, "Unauthorized", "Invalid client credentials.")
    assert_problem(token_for(client, "nobody", "demo-globex-secret"), 401)
    r = client.post("/v1/oauth2/token", json={"client_id": "demo-globex-client",
                                              "client_secret": "demo-globex-secret", "grant_type": "password"})
    assert_problem(r, 400, "Bad Request")
    r = client.post("/v1/oauth2/token", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert_problem(client.post("/v1/oauth2/token"), 400)
    assert_problem(client.post("/v1/oauth2/token", json=["client_credentials"]), 400)


def test_oauth_token_without_scope_gets_403(clock):
    org = small_org(client_id="cid", client_secret="sec", scopes=())
    with Simulator([org], clock=clock) as sim, httpx.Client(base_url=sim.base_url) as c:
        token = token_for(c, "cid", "sec").json()["access_token"]
        assert_problem(get_usage(c, token), 403, detail="Missing required scope: usage:read")


# -- rate limit -----------------------------------------------------------------------


def test_rate_limit(sim, client, clock):
    remaining = []
    for _ in range(3):
        r = get_usage(client, "limited-token")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "3"
        remaining.append(r.headers["x-ratelimit-remaining"])
        clock.advance(5)
    assert remaining == ["2", "1", "0"]
    r = get_usage(client, "limited-token")
    assert_problem(r, 429, "Too Many Requests")
    assert r.headers["x-ratelimit-remaining"] == "0"
    # The oldest request was at t=0, now is t=15: a slot frees in 45 s.
    assert r.headers["retry-after"] == "45"
    # Other orgs have their own window.
    assert get_usage(client, "demo-acme-free-token").status_code == 200
    clock.advance(44.5)
    assert get_usage(client, "limited-token").headers["retry-after"] == "1"
    clock.advance(0.5)
    r = get_usage(client, "limited-token")
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "0"
    clock.advance(61)
    assert get_usage(client, "limited-token").headers["x-ratelimit-remaining"] == "2"


# -- faults ---------------------------------------------------------------------------


def test_fault_latency(sim, client):
    sim.set_fault("acme-free", Fault(latency=0.3))
    t0 = time.perf_counter()
    r = get_usage(client, "demo-acme-free-token")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and 0.25 <= elapsed < 2.0
    t0 = time.perf_counter()
    assert get_usage(client, "demo-nimbus-pro-token").status_code == 200
    assert time.perf_counter() - t0 < 0.2


@pytest.mark.parametrize("status", [500, 502, 503, 402])
def test_fault_status_is_a_problem_document(sim, client, status):
    sim.set_fault("acme-free", Fault(status=status))
    assert_problem(get_usage(client, "demo-acme-free-token"), status)
    assert sim.requests("acme-free")[-1].status == status
    # Faults apply after auth: a bad token still gets 401.
    assert get_usage(client, "bad").status_code == 401


def test_fault_retry_after(sim, client):
    sim.set_fault("acme-free", Fault(status=429, retry_after=7))
    r = get_usage(client, "demo-acme-free-token")
    assert_problem(r, 429)
    assert r.headers["retry-after"] == "7" and r.headers["x-ratelimit-remaining"] == "0"
    sim.set_fault("acme-free", Fault(status=503, retry_after=3))
    r = get_usage(client, "demo-acme-free-token")
    assert_problem(r, 503)
    assert r.headers["retry-after"] == "3"
    sim.set_fault("acme-free", Fault(status=429))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 429 and "retry-after" not in r.headers


def test_fault_malformed(sim, client):
    sim.set_fault("acme-free", Fault(body="malformed"))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_fault_html(sim, client):
    sim.set_fault("acme-free", Fault(body="html"))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().lower().startswith("<!doctype html")
    sim.set_fault("acme-free", Fault(body="html", status=504))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 504 and "504" in r.text


def test_fault_truncated(sim, client):
    sim.set_fault("acme-free", Fault(body="truncated"))
    r = get_usage(client, "demo-acme-free-token")
    full = json.dumps(sim.usage_for("acme-free"), separators=(",", ":")).encode()
    assert r.status_code == 200
    assert "content-length" not in r.headers
    assert 0 < len(r.content) < len(full) and full.startswith(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_fault_oversize(sim, client):
    sim.set_fault("acme-free", Fault(body="oversize"))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 200 and len(r.content) > 2 * MIB
    body = r.json()
    expected = sim.usage_for("acme-free")
    assert {k: body[k] for k in expected} == expected
    assert set(body) - set(expected)  # the padding is an unknown field


def test_fault_schema(sim, client):
    sim.set_fault("acme-free", Fault(body="schema"))
    body = get_usage(client, "demo-acme-free-token").json()
    assert "storage" not in body and body["credits"]["used"] == "lots"


def test_fault_empty(sim, client):
    sim.set_fault("acme-free", Fault(body="empty"))
    r = get_usage(client, "demo-acme-free-token")
    assert r.status_code == 200 and r.content == b""


def test_fault_hang_blocks_nobody_and_stop_releases_it(clock):
    sim = Simulator(seed=1, clock=clock).start()
    sim.set_fault("acme-free", Fault(hang=True))
    errors: list[BaseException] = []

    def hang_forever():
        try:
            with httpx.Client(base_url=sim.base_url, timeout=30) as c:
                get_usage(c, "demo-acme-free-token")
        except httpx.HTTPError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=hang_forever, daemon=True)
    waiter.start()
    with httpx.Client(base_url=sim.base_url, timeout=3) as c:
        with pytest.raises(httpx.ReadTimeout):
            get_usage(c, "demo-acme-free-token", timeout=0.2)
        # Other orgs still answer while two connections hang.
        assert get_usage(c, "demo-nimbus-pro-token").status_code == 200
    assert sim.requests("acme-free")[-1].status == 0
    t0 = time.perf_counter()
    sim.stop()
    waiter.join(3)
    assert not waiter.is_alive() and errors
    assert time.perf_counter() - t0 < 2.0


def test_fault_times_clears_itself(sim, client):
    sim.set_fault("acme-free", Fault(status=500, times=2))
    codes = [get_usage(client, "demo-acme-free-token").status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]


def test_fault_probability_uses_seeded_rng(clock):
    def run() -> list[int]:
        with Simulator(seed=7, clock=clock) as sim, httpx.Client(base_url=sim.base_url) as c:
            sim.set_fault("acme-free", Fault(status=500, probability=0.5))
            return [get_usage(c, "demo-acme-free-token").status_code for _ in range(30)]

    first = run()
    assert 5 <= first.count(500) <= 25 and 500 in first and 200 in first
    assert run() == first


def test_fault_is_per_org_and_clearable(sim, client):
    sim.set_fault("acme-free", Fault(status=500))
    assert get_usage(client, "demo-nimbus-pro-token").status_code == 200
    assert get_usage(client, "demo-acme-free-token").status_code == 500
    sim.set_fault("acme-free", None)
    assert get_usage(client, "demo-acme-free-token").status_code == 200
    with pytest.raises(KeyError):
        sim.set_fault("no-such-org", Fault())
    with pytest.raises(ValueError):
        Fault(body="weird")


def test_auth_fault(sim, client):
    sim.set_auth_fault(Fault(status=503, retry_after=1, times=1))
    r = token_for(client, "demo-globex-client", "demo-globex-secret")
    assert_problem(r, 503)
    assert r.headers["retry-after"] == "1"
    assert get_usage(client, "demo-globex-token").status_code == 200
    assert token_for(client, "demo-globex-client", "demo-globex-secret").status_code == 200
    sim.set_auth_fault(Fault(body="html"))
    r = token_for(client, "demo-globex-client", "demo-globex-secret")
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    sim.set_auth_fault(None)
    assert token_for(client, "demo-globex-client", "demo-globex-secret").status_code == 200


def test_flaky_org_fails_sometimes(sim, client):
    codes = []
    for _ in range(120):
        r = get_usage(client, "demo-flaky-token")
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["retry-after"] == "2" and r.headers["x-ratelimit-remaining"] == "0"
        elif r.status_code == 503:
            assert_problem(r, 503)
    assert set(codes) == {200, 429, 503}
    assert 6 <= codes.count(503) <= 36 and 1 <= codes.count(429) <= 15


def test_flaky_org_is_slow(clock):
    with Simulator(seed=3, clock=clock) as sim, httpx.Client(base_url=sim.base_url) as c:
        sim.flaky_latency = (0.2, 0.25)
        t0 = time.perf_counter()
        get_usage(c, "demo-flaky-token")
        assert time.perf_counter() - t0 >= 0.19


# -- usage over time --------------------------------------------------------------------


def test_usage_moves_over_time(sim, client, clock):
    org = sim.orgs["nimbus-pro"]
    first = get_usage(client, org.token).json()
    clock.advance(3600)
    later = get_usage(client, org.token).json()
    gained = later["credits"]["used"] - first["credits"]["used"]
    assert 0.4 * org.burn_per_hour - 1 <= gained <= 1.6 * org.burn_per_hour + 1
    assert later["credits"]["available"] == org.credit_limit - later["credits"]["used"]
    assert later["storage"]["used"] - first["storage"]["used"] == pytest.approx(org.storage_growth_per_hour, abs=1)
    # Visibly moving within a minute in the demo.
    assert sim.usage_for("nimbus-pro", clock.t + 60)["credits"]["used"] > later["credits"]["used"]


def test_usage_never_decreases_within_a_month(sim, clock):
    previous = -1
    for i in range(400):
        used = sim.usage_for("acme-free", START + i * 37.0)["credits"]["used"]
        assert used >= previous
        previous = used
    assert previous > sim.orgs["acme-free"].credits_used_at_start


def test_usage_is_deterministic_given_seed(clock):
    def sample(seed: int) -> list[int]:
        s = Simulator(seed=seed, clock=clock)
        return [s.usage_for("globex-enterprise", START + h * 1800)["credits"]["used"] for h in range(10)]

    assert sample(5) == sample(5)
    assert sample(5) != sample(6)


def test_month_rollover_resets_credits(sim, client, clock):
    org = sim.orgs["nimbus-pro"]
    clock.t = datetime(2026, 4, 30, 23, 59, 0, tzinfo=timezone.utc).timestamp()
    before = get_usage(client, org.token).json()["credits"]
    assert before["used"] > org.credits_used_at_start
    assert before["periodEnd"] == "2026-04-30T23:59:59Z"
    clock.advance(120)  # 2026-05-01T00:01:00Z
    after = get_usage(client, org.token).json()["credits"]
    assert after["periodStart"] == "2026-05-01T00:00:00Z" and after["periodEnd"] == "2026-05-31T23:59:59Z"
    assert 0 <= after["used"] <= 2 * org.burn_per_hour / 60 + 1
    assert after["available"] == org.credit_limit - after["used"]
    clock.advance(86_400)
    assert after["used"] < get_usage(client, org.token).json()["credits"]["used"] < org.credit_limit


def test_purchased_balance_is_not_refilled_by_rollover(sim, clock):
    start = sim.usage_for("globex-enterprise")["credits"]
    june = sim.usage_for("globex-enterprise", datetime(2026, 6, 2, tzinfo=timezone.utc).timestamp())["credits"]
    assert june["isInOverage"] is False and june["overageCredits"] == 0
    # April's overage (at least the 12 000 at start) stays spent.
    assert june["purchasedBalance"] <= start["purchasedBalance"] < 100_000
    assert june["totalAvailable"] == june["available"] + june["purchasedBalance"]


def test_hard_cap_stops_consumption(clock):
    org = small_org(credit_limit=1_000, credits_used_at_start=990, hard_cap=True, admin=True, purchased_balance=50)
    sim = Simulator([org], seed=1, clock=clock)
    credits = sim.usage_for("small", START + 6 * 3600)["credits"]
    assert credits["hardCap"] is True
    assert credits["used"] == 1_050 and credits["purchasedBalance"] == 0 and credits["totalAvailable"] == 0


# -- observation ---------------------------------------------------------------------------


def test_requests_and_request_count(sim, client, clock):
    get_usage(client, "demo-acme-free-token", headers={"User-Agent": "cuadra-top/9"})
    clock.advance(1)
    get_usage(client, "demo-acme-free-token")
    get_usage(client, "demo-nimbus-pro-token")
    get_usage(client, "nope")
    client.get("/elsewhere")
    token_for(client, "demo-globex-client", "demo-globex-secret")

    assert sim.request_count("acme-free") == 2
    assert sim.request_count("nimbus-pro") == 1
    assert sim.request_count() == 4  # every /v1/usage request, including the 401
    assert sim.request_count(path=None) == 6
    assert sim.request_count("globex-enterprise", path="/v1/oauth2/token") == 1
    acme = sim.requests("acme-free")
    assert [(r.time, r.method, r.path, r.status) for r in acme] == [
        (START, "GET", "/v1/usage", 200), (START + 1, "GET", "/v1/usage", 200)]
    assert acme[0].user_agent == "cuadra-top/9"
    assert acme[1].user_agent.startswith("python-httpx/")
    unknown = [r for r in sim.requests() if r.org is None]
    assert [(r.path, r.status) for r in unknown] == [("/v1/usage", 401), ("/elsewhere", 404)]
    assert sim.requests(path="/v1/oauth2/token")[0].org == "globex-enterprise"


def test_real_clock_lifecycle():
    with Simulator() as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.auth_url == sim.base_url + "/v1/oauth2/token"
        r = httpx.get(sim.base_url + "/v1/usage", headers=bearer("demo-acme-free-token"))
        assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.base_url + "/v1/usage", headers=bearer("demo-acme-free-token"), timeout=1)


def test_add_org_after_start(sim, client):
    sim.add_org(small_org("late"))
    assert get_usage(client, "late-token").json()["credits"]["used"] == 1_000

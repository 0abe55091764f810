"""Agent performance and surveys through real HTTP (both stores): GET /api/v1/agents/stats
per agent and day with the team's series, and a satisfaction survey to the contacts
active in a period — sent on their channel, opt-outs left out, answers counted and fed
into the report."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.wiring.services import SERVICES
from tests.cases.support import Clock
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, auth, signed_api_body
from tests.web.fakes import FakeCallback, start_crm

_ids = itertools.count(1)


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(make_client: Any, crm: tuple[FakeCallback, str], clock: Clock) -> TestClient:
    return await make_client(
        clock=clock,
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        reply_tracking={"scan_interval": "0.05s", "channels": {"api": "5m"}},
        csat={"enabled": True},
    )


async def say(client: TestClient, user: str, text: str, **attributes: Any) -> str:
    payload = {"id": f"st-{next(_ids)}", "from": {"id": user}, "text": text, "attributes": attributes}
    body, headers = signed_api_body(payload)
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["conversation_id"])


async def call(client: TestClient, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    resp = await client.request(method, path, headers=auth(token) if token else auth(), **kw)
    return resp.status, await resp.json()


async def claim(client: TestClient, cid: str, token: str) -> None:
    _, conv = await call(client, "GET", f"/api/v1/conversations/{cid}")
    status, body = await call(
        client, "POST", f"/api/v1/conversations/{cid}/claim", token, json={"routing_version": conv["routing_version"]}
    )
    assert status == 200, body


async def reply(client: TestClient, cid: str, token: str, text: str) -> None:
    status, body = await call(client, "POST", f"/api/v1/conversations/{cid}/messages", token, json={"text": text})
    assert status == 202, body


async def settle(client: TestClient) -> None:
    while await client.app[SERVICES].timers.scan_once():
        pass


def told(crm: tuple[FakeCallback, str], user: str) -> list[str]:
    return [json.loads(b)["text"] for _, b in crm[0].received if json.loads(b)["to"]["id"] == user]


async def test_agent_stats_count_each_agents_day_and_the_team(
    client: TestClient, crm: tuple[FakeCallback, str], clock: Clock
) -> None:
    wang = await say(client, "wang", "我的付款失败了")
    kim = await say(client, "kim", "payment declined twice")
    await claim(client, wang, ALICE_TOKEN)
    await claim(client, kim, BOB_TOKEN)
    clock.advance(120)  # alice answers in 2 minutes (within the 5-minute target)
    await reply(client, wang, ALICE_TOKEN, "您好，我来查一下。")
    clock.advance(480)  # bob after 10 minutes: past the target
    await reply(client, kim, BOB_TOKEN, "Let me check.")
    clock.advance(60)
    status, _ = await call(client, "POST", f"/api/v1/conversations/{wang}/resolve", ALICE_TOKEN)
    assert status == 200
    await settle(client)
    await eventually(lambda: any("请为本次服务评分" in t for t in told(crm, "wang")))
    await say(client, "wang", "5 很快")
    await eventually(lambda: len(told(crm, "wang")) == 3)  # the thanks

    status, _ = await call(client, "GET", "/api/v1/agents/stats", ALICE_TOKEN)
    assert status == 403
    status, report = await call(client, "GET", "/api/v1/agents/stats?tz=Asia/Shanghai")
    assert status == 200, report
    assert report["timezone"] == "Asia/Shanghai" and len(report["team"]) == 7  # the last 7 days, today included
    agents = {a["agent"]: a for a in report["agents"]}
    alice, bob = agents["alice"]["total"], agents["bob"]["total"]
    assert (alice["handled"], alice["resolved"], alice["replies"]) == (1, 1, 1)
    assert 119 <= alice["reply_seconds_median"] <= 125 and 119 <= alice["first_response_seconds_median"] <= 125
    assert alice["sla_attainment"] == 1.0 and (alice["csat_average"], alice["csat_count"]) == (5.0, 1)
    assert 59 <= alice["handle_seconds_median"] <= 665
    assert (bob["handled"], bob["resolved"], bob["sla_attainment"]) == (1, 0, 0.0)
    assert 599 <= bob["reply_seconds_median"] <= 606 and bob["csat_count"] == 0
    [today] = agents["alice"]["days"]
    assert today["day"] == report["team"][-1]["day"] and today["handled"] == 1
    team = report["team"][-1]
    assert team["volume_by_channel"] == {"api": 2} and team["replies"] == 2 and team["sla_attainment"] == 0.5
    assert team["csat_average"] == 5.0 and team["csat_count"] == 1

    status, bad = await call(client, "GET", "/api/v1/agents/stats?from=2026-01-01&to=2026-12-31")
    assert status == 400 and "92 days" in bad["error"]["message"]
    status, bad = await call(client, "GET", "/api/v1/agents/stats?tz=Mars/Olympus")
    assert status == 400


async def test_a_survey_goes_to_active_contacts_but_not_to_those_who_opted_out(
    client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    await say(client, "li", "我想问一下提现")
    await say(client, "sam", "how do withdrawals work?")
    await say(client, "opted", "hello", survey_opt_out=True)
    status, survey = await call(client, "POST", "/api/v1/surveys", json={"from": "2000-01-01", "to": "2000-01-02"})
    assert status == 202 and survey["selected"] == 0  # nobody was active then
    today = (await call(client, "GET", "/api/v1/agents/stats"))[1]["team"][-1]["day"]
    status, survey = await call(client, "POST", "/api/v1/surveys", json={"from": today, "to": today})
    assert status == 202, survey
    assert survey["selected"] == 2 and survey["opted_out"] == 1
    await settle(client)
    await eventually(lambda: told(crm, "li") and told(crm, "sam"))
    assert told(crm, "li")[-1].startswith("您好！请问您对我们最近的服务满意吗") and "How satisfied" not in told(crm, "li")[-1]
    assert told(crm, "sam")[-1].startswith("How satisfied are you") and "您好" not in told(crm, "sam")[-1]
    assert told(crm, "opted") == []

    li = await say(client, "li", "4 还不错")
    await say(client, "sam", "STOP")
    await settle(client)
    await eventually(lambda: told(crm, "li")[-1] == "感谢您的反馈！")  # thanked once, in Chinese
    assert not any("Thank you" in t for t in told(crm, "sam"))  # an opt-out gets no thanks
    status, done = await call(client, "GET", f"/api/v1/surveys/{survey['id']}")
    assert status == 200, done
    assert (done["sent"], done["answered"], done["average"], done["opted_out"]) == (2, 1, 4.0, 2)
    assert done["response_rate"] == 0.5
    _, conv = await call(client, "GET", f"/api/v1/conversations/{li}")
    assert conv["attributes"]["survey"]["score"] == 4 and conv["attributes"]["survey"]["comment"] == "还不错"
    assert conv["queue"] is None or conv["assignee"] is None  # the answer offered no work
    report = (await call(client, "GET", "/api/v1/agents/stats"))[1]
    assert report["team"][-1]["survey_answers"] == 1 and report["team"][-1]["csat_average"] == 4.0

    # The opted-out contact is left out of the next survey.
    status, again = await call(client, "POST", "/api/v1/surveys", json={"from": today, "to": today})
    assert again["selected"] == 1 and again["opted_out"] == 2
    assert (await call(client, "GET", "/api/v1/surveys/sv_nope"))[0] == 404


async def test_a_periodic_survey_goes_once_for_the_period_just_ended(
    make_client: Any, crm: tuple[FakeCallback, str]
) -> None:
    import time

    from gateway.wiring.reports_setup import SURVEYS

    client = await make_client(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        reply_tracking={"scan_interval": "0.05s"},
        surveys={"every": "1d", "channels": ["api"]},
    )
    await say(client, "lin", "我想问一下额度")
    surveys = client.app[SURVEYS]
    day_ms = 86_400_000
    tomorrow = int(time.time() * 1000) + day_ms  # today's period has ended by then
    first = await surveys.run_due(tomorrow, day_ms, [], None)
    assert first is not None
    assert await surveys.run_due(tomorrow + 1000, day_ms, [], None) is None  # once per period
    status = await surveys.status(first)
    assert status is not None and status["selected"] == 1
    await settle(client)
    await eventually(lambda: told(crm, "lin"))
    assert told(crm, "lin")[-1].startswith("您好！请问您对我们最近的服务满意吗")


async def test_a_survey_to_a_channel_that_cannot_send_is_counted_as_skipped(make_client: Any) -> None:
    client = await make_client(channels={"api": {"secret": API_SECRET}}, reply_tracking={"scan_interval": "0.05s"})
    await say(client, "nobody-to-call", "hello")  # the API channel has no callback_url: it cannot reply
    today = (await call(client, "GET", "/api/v1/agents/stats"))[1]["team"][-1]["day"]
    status, survey = await call(client, "POST", "/api/v1/surveys", json={"from": today, "to": today})
    assert status == 202 and survey["selected"] == 1
    await settle(client)

    async def skipped() -> Any:
        found = (await call(client, "GET", f"/api/v1/surveys/{survey['id']}"))[1]
        return found if found["skipped"] else None

    found = await eventually(skipped)
    assert found["sent"] == 0 and sum(found["skipped"].values()) == 1, found

import jsonschema

from burgerhub_pager import PagerChannel
from hub.models import ReceiptStatus
from hub.testing import started


def test_settings_schema_accepts_the_sandbox():
    jsonschema.Draft202012Validator(PagerChannel.settings_schema).validate({})


async def test_pages_the_duty_officer(pager_server, channel_context, sample_notice, deliveries):
    settings = {"url": pager_server.url, "api_key": "k-123"}
    channel = PagerChannel(channel_context("pager", settings, channel_cls=PagerChannel))
    async with started(channel):
        [receipt] = await channel.deliver(sample_notice(), deliveries(["+31612345678"], channel="pager"))
    assert receipt.status is ReceiptStatus.SENT and receipt.provider_id == "pg-0"
    assert pager_server.received[0]["text"].startswith("Hier volgt een oproep")

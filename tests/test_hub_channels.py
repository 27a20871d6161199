"""How the hub builds its channels from the configuration."""

from __future__ import annotations


async def test_a_channel_instance_sets_its_own_batch_size(make_hub):
    # the SMS channel picks batch size and concurrency from its provider adapter when built
    config = {
        "channels": {
            "sms": {
                "provider": "cm",
                "base_url": "http://127.0.0.1:9",
                "product_token": "00000000-0000-0000-0000-000000000000",
                "sender": "Burgernet",
            }
        }
    }
    async with make_hub(entry_points=True, config=config, engine=False) as hub:
        runtime = hub.runtimes["sms"]
        assert not runtime.sandbox
        assert (runtime.batch_size, runtime.concurrency) == (1000, 4)


async def test_the_operator_overrides_what_the_channel_sets(make_hub):
    config = {"channels": {"sms": {"provider": "cm", "product_token": "t", "sender": "Burgernet", "batch_size": 200}}}
    async with make_hub(entry_points=True, config=config, engine=False) as hub:
        assert hub.runtimes["sms"].batch_size == 200

"""The poison-message read path reaches every Redis channel kombu makes, Sentinel ones included."""

from __future__ import annotations

from kombu.transport import redis as kombu_redis

from workers import redis_transport


def test_the_sentinel_transport_gets_the_patched_read_path_and_keeps_its_own_options() -> None:
    redis_transport.install()
    channel = kombu_redis.SentinelTransport.Channel
    assert issubclass(channel, redis_transport.Channel) and issubclass(channel, kombu_redis.SentinelChannel)
    assert channel._brpop_read is redis_transport.Channel._brpop_read
    assert channel._get_pool is kombu_redis.SentinelChannel._get_pool  # still finds the primary via the sentinels
    assert channel.QoS is redis_transport.QoS
    assert {"dead_letter_prefix", "master_name", "sentinel_kwargs"} <= set(channel.from_transport_options)
    assert kombu_redis.Transport.Channel is redis_transport.Channel

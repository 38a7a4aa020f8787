"""Open the store a project's ``provider`` names: Redis (local) or DynamoDB (the AWS table).

Every component that reads interlock.yaml (CLI, workers, Beat, API, archiver) opens its store
here, so ``provider: dynamodb`` points all of them at the same table the Lambdas use.
"""

from __future__ import annotations

from interlock.clock import SYSTEM, Clock
from interlock.config import Project
from interlock.config.project import Provider
from interlock.store.base import Store


def open_store(project: Project, clock: Clock = SYSTEM, *, dynamodb_table: str | None = None,
               region: str | None = None) -> Store:
    """The store the project's ``provider`` names, with its retention settings.

    ``dynamodb_table`` opens that DynamoDB table (in ``region``, default the boto3 chain's) whatever
    the provider says: the Lambdas run the bundled project against the table Terraform made and
    names in ``TABLE_NAME``, not the one (if any) in ``interlock.yaml``.
    """
    settings = project.settings
    if dynamodb_table:
        from interlock.store.dynamodb import DynamoStore

        return DynamoStore.connect(dynamodb_table, region=region, clock=clock, retention=settings.retention_ttl,
                                   run_index_limit=settings.run_index_limit)
    if settings.provider is Provider.DYNAMODB:
        cfg = project.config.dynamodb
        assert cfg is not None, "the loader requires a dynamodb block when provider is dynamodb"
        from interlock.store.dynamodb import DynamoStore  # boto3 is the optional `aws` extra

        store = DynamoStore.connect(cfg.table_name, region=cfg.region, endpoint_url=cfg.endpoint, clock=clock,
                                    retention=settings.retention_ttl, run_index_limit=settings.run_index_limit)
        if cfg.create_table:  # for DynamoDB Local / development; Terraform creates it on AWS
            DynamoStore.create_table(store.c, cfg.table_name)
        return store
    from interlock.store.redis import RedisStore

    return RedisStore.from_settings(settings, clock)

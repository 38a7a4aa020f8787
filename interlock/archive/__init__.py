"""The Postgres archive: schema, migrations, the archiver and history queries."""

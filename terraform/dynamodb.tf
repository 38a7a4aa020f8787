# The single table (layout: docs/stores.md, "DynamoDB"): every record is PK/SK, GSI1 serves the "list by type" queries.
resource "aws_dynamodb_table" "main" {
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "PK"
  range_key    = "SK"

  attribute {
    name = "PK"
    type = "S"
  }

  attribute {
    name = "SK"
    type = "S"
  }

  attribute {
    name = "GSI1PK"
    type = "S"
  }

  attribute {
    name = "GSI1SK"
    type = "S"
  }

  global_secondary_index {
    name            = "GSI1"
    hash_key        = "GSI1PK"
    range_key       = "GSI1SK"
    projection_type = "ALL"
  }

  # Readers also treat an item past its `ttl` as missing: DynamoDB deletes expired items up to ~48 h late.
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  # NEW_AND_OLD_IMAGES (the reference had NEW_IMAGE only) so the stream router can tell what changed.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  # The table is the system's whole state (runs, claims, run logs, events): deleting it needs two steps.
  deletion_protection_enabled = true
}

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: `logging_config` on aws_lambda_function and filter criteria on event source mappings.
      version = "~> 5.60"
    }
  }

  # No backend block: state stays local unless the deployer adds one, e.g. a backend.tf with
  # `backend "s3" {}` configured through `terraform init -backend-config=...`.
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region
  table_name = coalesce(var.table_name, var.name_prefix)
}

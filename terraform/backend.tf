# Remote state in a GCS bucket that exists before the first apply (see README.md).
# The bucket is never hard-coded; pass it at init time:
#   terraform init -backend-config=bucket=<state-bucket> -backend-config=prefix=atende/<env>
# A prefix given with -backend-config overrides the default below, so every environment and
# every region keeps its own state.
terraform {
  backend "gcs" {
    prefix = "atende"
  }
}

# Every function is deployed with an HTTP trigger. The webhook is called by Meta, the tools
# hub by agent_turn and the console, the console by analysts, billing_api by the billing
# system; the others are called by the push subscriptions in pubsub.tf. functions-framework
# turns a Pub/Sub push envelope into a CloudEvent for entry points declared with
# @functions_framework.cloud_event, so the code does not care how the message arrived.

# The project number, for the tools hub's deterministic URL (locals.tf).
data "google_project" "this" {
  project_id = var.project_id
}

# Where the zipped sources go. Object names carry the archive hash, so a code change is a new
# object, which is what makes Cloud Functions rebuild.
resource "google_storage_bucket" "function_sources" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs (zipped sources); Cloud Audit Logs record access, a separate access-log bucket adds nothing.
  name     = "${var.project_id}-fn-src-${var.region}"
  project  = var.project_id
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Replaced archives become noncurrent versions; keep them a month for rollbacks.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# build/<name> is made by `python scripts/build_bundles.py`: main.py, the shared/ package and
# requirements.txt (a copy of requirements.lock). It must exist before `terraform plan`.
data "archive_file" "function_source" {
  for_each = local.functions

  type             = "zip"
  source_dir       = "${path.root}/../build/${each.key}"
  output_path      = "${path.root}/../build/${each.key}.zip"
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.functions

  bucket       = google_storage_bucket.function_sources.name
  name         = "${each.key}/${data.archive_file.function_source[each.key].output_sha256}.zip"
  source       = data.archive_file.function_source[each.key].output_path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = replace(each.key, "_", "-")
  description = each.value.description
  labels      = { function = each.key }

  build_config {
    runtime         = "python311"
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source[each.key].name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.function[each.key].email
    environment_variables = merge(local.common_env, each.value.env)

    available_memory = local.function_settings[each.key].memory
    # Serving concurrent requests needs at least one vCPU; otherwise let memory decide.
    available_cpu                    = local.function_settings[each.key].concurrency > 1 ? local.function_settings[each.key].cpu : null
    max_instance_request_concurrency = local.function_settings[each.key].concurrency
    timeout_seconds                  = local.function_settings[each.key].timeout_seconds
    min_instance_count               = local.function_settings[each.key].min_instances
    max_instance_count               = local.function_settings[each.key].max_instances

    # Meta must reach the webhook from the internet. The Pub/Sub-driven functions only take
    # traffic from inside the project: Cloud Run counts Pub/Sub push from the same project
    # as internal, even on the public run.app URL. The tools hub and billing_api have their
    # own settings (local.ingress_overrides; var.tools_hub_ingress_settings,
    # var.billing_api_ingress_settings).
    ingress_settings               = each.value.public ? "ALLOW_ALL" : lookup(local.ingress_overrides, each.key, var.worker_ingress_settings)
    all_traffic_on_latest_revision = true
  }

  depends_on = [
    google_service_account_iam_member.deploy_act_as,
    google_project_iam_member.build,
    google_project_iam_member.function,
    google_secret_manager_secret_iam_member.function_accessor,
    google_pubsub_topic_iam_member.function_publisher,
  ]
}

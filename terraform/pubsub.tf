# Topics the pipeline publishes to. Names are fixed: the Python code uses them as is.
resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Messages are encrypted with Google-managed keys; a customer-managed key is not required here.
  for_each = local.topics

  project = var.project_id
  name    = each.key

  depends_on = [google_project_service.enabled]
}

# Explicit push subscriptions instead of 2nd-gen event triggers: an event trigger makes
# Eventarc create and own the subscription, and then message ordering, the dead-letter policy
# and the retry backoff cannot be set on it. See README.md, "Why push subscriptions".
resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  project = var.project_id
  name    = each.key
  topic   = google_pubsub_topic.topic[each.value.topic].id

  # For push delivery this is also the HTTP request timeout.
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  enable_message_ordering    = each.value.message_ordering
  message_retention_duration = "${var.message_retention_seconds}s"

  # Never expire for lack of traffic (the default is 31 days).
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter ? [google_pubsub_topic.topic["dead-letter"].id] : []
    content {
      dead_letter_topic     = dead_letter_policy.value
      max_delivery_attempts = var.max_delivery_attempts
    }
  }

  push_config {
    # The run.app URL of the function's Cloud Run service: the address Cloud Run treats as
    # internal for same-project Pub/Sub, and an audience it accepts in the OIDC token.
    push_endpoint = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push_invoker[each.key].email
      audience              = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri
    }
  }

  lifecycle {
    precondition {
      condition     = local.function_settings[each.value.function].timeout_seconds <= each.value.ack_deadline_seconds
      error_message = "The ${each.value.function} function timeout must not exceed the ${each.key} ack deadline (${each.value.ack_deadline_seconds}s), or Pub/Sub gives up on a push that is still running."
    }
    precondition {
      condition     = var.retry_minimum_backoff_seconds <= var.retry_maximum_backoff_seconds
      error_message = "retry_minimum_backoff_seconds must not exceed retry_maximum_backoff_seconds."
    }
  }

  depends_on = [
    google_service_account_iam_member.deploy_act_as,
    google_cloud_run_v2_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_token_creator,
    google_pubsub_topic_iam_member.pubsub_dead_letter_publisher,
  ]
}

# Pull subscriptions: handoffs-console for the analysts' console (later), dead-letter-inspect
# so operators can pull dead letters (`gcloud pubsub subscriptions pull dead-letter-inspect`).
resource "google_pubsub_subscription" "pull" {
  for_each = local.pull_subscriptions

  project = var.project_id
  name    = each.key
  topic   = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds       = 60
  message_retention_duration = "${var.message_retention_seconds}s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }
}

# The secrets exist here; their values never do. Add a version out of band, e.g.
#   printf '%s' "$VALUE" | gcloud secrets versions add whatsapp-app-secret --data-file=-
# The functions read version "latest" through the Secret Manager API at start-up.
# google-chat-webhook-url is the analysts' Chat space's incoming-webhook URL (its key and token
# are in the query); only handoff_notifier may read it (local.functions, secrets). Until it has
# a version every card fails and, after max_delivery_attempts, is a dead letter.
resource "google_secret_manager_secret" "secret" {
  for_each = local.secret_ids

  project   = var.project_id
  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# Secret-level, not project-level: each function reads exactly the secrets it lists.
resource "google_secret_manager_secret_iam_member" "function_accessor" {
  for_each = local.function_secret_accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

# Least privilege for the runtime, build and Pub/Sub identities. No primitive roles anywhere;
# the deploy identity's roles live in wif.tf.

# --- Function runtime identities -------------------------------------------------------------

# Firestore (roles/datastore.user), logs and metrics: project level is the finest grain these
# services offer. agent_turn also gets roles/aiplatform.user for Vertex AI; the tools hub gets
# roles/datastore.viewer instead of datastore.user: it only reads debts (locals.tf).
resource "google_project_iam_member" "function" {
  for_each = local.function_project_roles

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.function[each.value.function].member
}

# Publisher on exactly the topics each function writes to.
resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.function_topic_publishers

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function[each.value.function].member
}

# (Secret-level accessor bindings are in secrets.tf, next to the secrets.)

# --- Function build identity -----------------------------------------------------------------

resource "google_project_iam_member" "build" {
  for_each = local.build_project_roles

  project = var.project_id
  role    = each.key
  member  = google_service_account.build.member
}

# --- Invocation ------------------------------------------------------------------------------

# Each push subscription's invoker may call only its own function's Cloud Run service.
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.push_subscriptions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker[each.key].member
}

# agent_turn calls the tools hub with identity tokens of its runtime account (audience: the
# hub's URL); only it and the console (below) may invoke the hub.
resource "google_cloud_run_v2_service_iam_member" "tools_hub_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["tools_hub"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.function["agent_turn"].member
}

# The console's staging chat for prompts runs the agent graph against the same hub (its
# sandbox refuses open_ticket before the call).
resource "google_cloud_run_v2_service_iam_member" "tools_hub_invoker_console" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["tools_hub"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.function["console"].member
}

# The console is private: only these members (IAP's service agent, analysts' groups) may
# invoke it; the function still checks each caller's token and role.
resource "google_cloud_run_v2_service_iam_member" "console_invoker" {
  for_each = toset(var.console_invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["console"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# The billing system's API is private too: only these members (the billing system's identity)
# may invoke it, each request with a Google identity token for the function's URL.
resource "google_cloud_run_v2_service_iam_member" "billing_api_invoker" {
  for_each = toset(var.billing_api_invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["billing_api"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# Meta calls the webhook without Google credentials; every request is authenticated by its
# X-Hub-Signature-256 HMAC, checked by the function with the app secret.
resource "google_cloud_run_v2_service_iam_member" "webhook_public" {
  #checkov:skip=CKV_GCP_102:The WhatsApp webhook must be callable by Meta without Google credentials; each request is authenticated by its HMAC signature.
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["webhook"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Pub/Sub service agent -------------------------------------------------------------------

# Mints the OIDC tokens of push requests. Needed for projects that enabled Pub/Sub before
# April 8, 2021; granted on the invoker accounts only, not on the project.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  for_each = local.push_subscriptions

  service_account_id = google_service_account.push_invoker[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_project_service_identity.pubsub.member
}

# Moves undeliverable messages to the dead-letter topic...
resource "google_pubsub_topic_iam_member" "pubsub_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["dead-letter"].name
  role    = "roles/pubsub.publisher"
  member  = google_project_service_identity.pubsub.member
}

# ...which requires acknowledging them on the source subscription.
resource "google_pubsub_subscription_iam_member" "pubsub_dead_letter_subscriber" {
  for_each = { for name, sub in local.push_subscriptions : name => sub if sub.dead_letter }

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = google_project_service_identity.pubsub.member
}

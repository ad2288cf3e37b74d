# APIs this configuration and the functions use. cloudresourcemanager and serviceusage must
# be enabled once by hand before the first apply (README.md, "Bootstrap"); they are listed
# here so Terraform keeps them on.
locals {
  apis = toset([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtrace.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  project = var.project_id
  service = each.key

  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}

# The Pub/Sub service agent signs push OIDC tokens and moves messages to the dead-letter
# topic. Asking for its identity creates it if the project has not used Pub/Sub yet.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}

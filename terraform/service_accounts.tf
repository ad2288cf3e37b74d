# One runtime identity per function.
resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "atende-fn-${replace(each.key, "_", "-")}"
  display_name = "Atende ${each.key} function"
  description  = "Runtime identity of the ${each.key} Cloud Function."

  depends_on = [google_project_service.enabled]
}

# One invoker identity per push subscription: Pub/Sub signs each push with an OIDC token of
# this account, and only this account may invoke the subscription's function.
resource "google_service_account" "push_invoker" {
  for_each = local.push_subscriptions

  project      = var.project_id
  account_id   = "atende-push-${replace(each.value.function, "_", "-")}"
  display_name = "Atende push ${each.key}"
  description  = "Signs Pub/Sub pushes of subscription ${each.key} to the ${each.value.function} function."

  depends_on = [google_project_service.enabled]
}

# Cloud Build runs the function builds as this account instead of a default one.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "atende-fn-build"
  display_name = "Atende function builds"
  description  = "Cloud Build identity for building the Atende Cloud Functions."

  depends_on = [google_project_service.enabled]
}

# GitHub Actions impersonates this account through Workload Identity Federation (wif.tf).
resource "google_service_account" "deploy" {
  project      = var.project_id
  account_id   = "atende-deploy"
  display_name = "Atende deploy (GitHub Actions)"
  description  = "Applies the Atende Terraform configuration from GitHub Actions."

  depends_on = [google_project_service.enabled]
}

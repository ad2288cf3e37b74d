# Keyless deploys: GitHub Actions exchanges its OIDC token for a short-lived token of the
# deploy service account. Only workflows of var.github_repository get through the provider.
resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.wif_pool_id
  display_name              = "GitHub Actions"
  description               = "Identities of GitHub Actions workflows that deploy Atende."

  depends_on = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"
  description                        = "GitHub Actions OIDC tokens of ${var.github_repository}."

  attribute_mapping = {
    "google.subject"             = "assertion.sub"
    "attribute.actor"            = "assertion.actor"
    "attribute.repository"       = "assertion.repository"
    "attribute.repository_owner" = "assertion.repository_owner"
    "attribute.ref"              = "assertion.ref"
  }

  # Only jobs of this repository that run in this environment's GitHub environment (the
  # default "sub" claim is repo:<owner>/<name>:environment:<environment>) get a token at all.
  # Production's environment has required reviewers, so a production token needs an approval.
  attribute_condition = "assertion.sub == 'repo:${local.github_owner}/${local.github_repo_name}:environment:${local.github_environment}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

# Workflows of the repository may impersonate the deploy service account.
resource "google_service_account_iam_member" "deploy_workload_identity_user" {
  service_account_id = google_service_account.deploy.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

# What applying this configuration takes (see local.deploy_project_roles).
resource "google_project_iam_member" "deploy" {
  for_each = local.deploy_project_roles

  project = var.project_id
  role    = each.key
  member  = google_service_account.deploy.member
}

# Creating the function, invoker and build service accounts and setting their IAM policies
# (token creator for the Pub/Sub agent, workload identity user on the deploy account) takes
# service account admin on the project: the accounts do not exist before it creates them.
resource "google_project_iam_member" "deploy_service_account_admin" {
  #checkov:skip=CKV_GCP_49:The deploy identity creates the service accounts of this configuration and sets their IAM policies; there is no narrower predefined role for that.
  project = var.project_id
  role    = "roles/iam.serviceAccountAdmin"
  member  = google_service_account.deploy.member
}

# Attaching a service account to a function, a push subscription or a build needs actAs on
# that account only, so serviceAccountUser is granted per account, not on the project.
resource "google_service_account_iam_member" "deploy_act_as" {
  for_each = merge(
    { for name, sa in google_service_account.function : "function/${name}" => sa.name },
    { for name, sa in google_service_account.push_invoker : "push/${name}" => sa.name },
    { "build" = google_service_account.build.name },
  )

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deploy.member
}

# Project IAM admin, limited to adding and removing the project-level roles this
# configuration grants to the function and build identities. It cannot grant itself, or
# anyone, any other role.
resource "google_project_iam_member" "deploy_delegated_iam_admin" {
  project = var.project_id
  role    = "roles/resourcemanager.projectIamAdmin"
  member  = google_service_account.deploy.member

  condition {
    title       = "atende-delegated-grants"
    description = "Only the project roles that the Atende configuration hands out."
    expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(${jsonencode(local.delegated_project_roles)})"
  }
}

# Both Google providers point at the same project and region. google-beta is used for one
# resource only: google_project_service_identity, which makes sure the Pub/Sub service agent
# exists before it is granted roles.
provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}

provider "google-beta" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}

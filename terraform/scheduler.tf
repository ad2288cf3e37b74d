# The clock of the follow-ups: Cloud Scheduler publishes a tick to followup-ticks on
# var.followup_tick_schedule, and the push subscription followup-ticks-followups delivers it to
# the followups function. A tick carries no work of its own (the function does whatever is due
# at its own clock), so a late, doubled or missed tick costs only lateness.
#
# Publishing needs no grant here: a Pub/Sub job publishes as the Cloud Scheduler service agent
# (service-PROJECT_NUMBER@gcp-sa-cloudscheduler.iam.gserviceaccount.com), whose
# roles/cloudscheduler.serviceAgent, granted on the project when the API is turned on, holds
# pubsub.topics.publish. Do not revoke it. Creating the job takes roles/cloudscheduler.admin
# (the deploy account's, wif.tf).
#
# Cloud Scheduler has no emulator: locally the stack publishes the same payload itself.
resource "google_cloud_scheduler_job" "followup_tick" {
  project     = var.project_id
  region      = var.region
  name        = "followup-ticks"
  description = "Publishes a follow-up tick to followup-ticks: the followups function sends the trails' due notices and does the housekeeping."
  schedule    = var.followup_tick_schedule
  time_zone   = var.followup_time_zone

  # No attempt_deadline: it does not apply to Pub/Sub targets (the provider would show a
  # permanent diff). A failed publish is not retried; the next tick does the work.
  pubsub_target {
    topic_name = google_pubsub_topic.topic["followup-ticks"].id
    # Exactly shared.topology.TICK_PAYLOAD (test_terraform_crosscheck.py compares them).
    data = base64encode("{\"job\":\"followups\",\"source\":\"cloud-scheduler\"}")
  }

  # Ticks only once the subscription that carries them to the function exists.
  depends_on = [
    google_project_service.enabled,
    google_pubsub_subscription.push,
  ]
}

output "webhook_url" {
  description = "Callback URL to register in the Meta app (WhatsApp > Configuration > Webhook)."
  value       = google_cloudfunctions2_function.function["webhook"].url
}

output "function_urls" {
  description = "Cloud Run (run.app) URL of each function, keyed by function directory name; the push subscriptions deliver to these."
  value       = { for name, fn in google_cloudfunctions2_function.function : name => fn.service_config[0].uri }
}

output "tools_hub_url" {
  description = "MCP endpoint of the tools hub (its deterministic run.app URL + /mcp), as agent_turn's TOOLS_HUB_URL; callers need roles/run.invoker and an identity token for the URL without /mcp."
  value       = "${local.tools_hub_url}/mcp"
}

output "billing_api_url" {
  description = "URL of the billing system's API (POST /debts, POST /payments, GET /debts/ID); callers need roles/run.invoker (billing_api_invokers) and an identity token for this URL."
  value       = google_cloudfunctions2_function.function["billing_api"].service_config[0].uri
}

output "followup_tick_job" {
  description = "Cloud Scheduler job that publishes the follow-up ticks (gcloud scheduler jobs run/pause/resume it by this id)."
  value       = google_cloud_scheduler_job.followup_tick.id
}

output "topics" {
  description = "Pub/Sub topic resource ids, keyed by topic name."
  value       = { for name, topic in google_pubsub_topic.topic : name => topic.id }
}

output "subscriptions" {
  description = "Pub/Sub subscription resource ids, keyed by subscription name (push and pull)."
  value = merge(
    { for name, sub in google_pubsub_subscription.push : name => sub.id },
    { for name, sub in google_pubsub_subscription.pull : name => sub.id },
  )
}

output "function_service_accounts" {
  description = "Runtime service account email of each function, keyed by function directory name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "deploy_service_account_email" {
  description = "Service account GitHub Actions impersonates; set it as the DEPLOY_SERVICE_ACCOUNT variable of the GitHub environment."
  value       = google_service_account.deploy.email
}

output "workload_identity_provider" {
  description = "Full resource name of the GitHub OIDC provider; set it as the WIF_PROVIDER variable of the GitHub environment."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "function_source_bucket" {
  description = "Bucket holding the zipped function sources."
  value       = google_storage_bucket.function_sources.name
}

output "dashboard_url" {
  description = "Cloud Monitoring dashboard of this environment (messages, turns, handoffs, latency, failures, dead letters, LLM cost)."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${basename(google_monitoring_dashboard.atende.id)}?project=${var.project_id}"
}

output "alert_policies" {
  description = "Alert policy resource names, keyed by alert (function error rates keyed error_rate/<function>)."
  value = merge(
    {
      dead_letter     = google_monitoring_alert_policy.dead_letter.name
      webhook_latency = google_monitoring_alert_policy.webhook_latency.name
      llm_daily_cost  = google_monitoring_alert_policy.llm_daily_cost.name
      pubsub_backlog  = google_monitoring_alert_policy.pubsub_backlog.name
    },
    { for name, policy in google_monitoring_alert_policy.function_error_rate : "error_rate/${name}" => policy.name },
  )
}

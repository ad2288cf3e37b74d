# Sizing of the production environment. Project, region, environment and repository come
# from the deploy workflow (-var); see README.md.
function_settings = {
  # One warm instance keeps Meta's webhook calls fast; Meta retries slow or failed deliveries.
  webhook = {
    timeout_seconds = 30
    min_instances   = 1
    max_instances   = 40
    concurrency     = 20
  }
  intake = {
    max_instances = 40
    concurrency   = 10
  }
  agent_turn = {
    memory          = "2Gi"
    timeout_seconds = 540
    min_instances   = 1
    max_instances   = 40
    concurrency     = 8
  }
  outbound = {
    max_instances = 40
    concurrency   = 10
  }
  dead_letter = {
    memory        = "256Mi"
    max_instances = 3
  }
  tools_hub = {
    timeout_seconds = 30
    max_instances   = 20
    concurrency     = 40
  }
}

firestore_point_in_time_recovery = true
firestore_delete_protection      = true

# Alert when language-model spend (list price) passes this in 24 hours: about four times
# the model spend docs/cost.md estimates for 1,000 conversations a day.
llm_daily_budget_usd = 25

# Sizing of the staging environment. Project, region, environment and repository come from
# the deploy workflow (-var); see README.md.
function_settings = {
  webhook = {
    timeout_seconds = 30
    max_instances   = 5
    concurrency     = 20
  }
  intake = {
    max_instances = 5
    concurrency   = 10
  }
  agent_turn = {
    memory          = "2Gi"
    timeout_seconds = 540
    max_instances   = 5
    concurrency     = 8
  }
  outbound = {
    max_instances = 5
    concurrency   = 10
  }
  dead_letter = {
    memory        = "256Mi"
    max_instances = 2
  }
  tools_hub = {
    timeout_seconds = 30
    max_instances   = 3
    concurrency     = 40
  }
}

firestore_delete_protection = false

# Alert when language-model spend (list price) passes this in 24 hours; staging traffic is
# tests, so the budget is small.
llm_daily_budget_usd = 5

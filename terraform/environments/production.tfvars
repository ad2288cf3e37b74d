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
  # A tick is a batch of trails: up to 540 s, within the subscription's 600 s ack deadline.
  followups = {
    timeout_seconds = 540
    max_instances   = 2
  }
  billing_api = {
    timeout_seconds = 300
    max_instances   = 10
    concurrency     = 4
  }
}

firestore_point_in_time_recovery = true
firestore_delete_protection      = true

# Alert when language-model spend (list price) passes this in 24 hours: about four times
# the model spend docs/cost.md estimates for 1,000 conversations a day.
llm_daily_budget_usd = 25

# The billing trail (README.md, "Follow-ups and billing"): the production defaults of
# variables.tf apply (ticks every 5 minutes, notices 08:00-20:00 Monday to Saturday in
# America/Sao_Paulo, none on Brazilian public holidays). The WhatsApp phone number id the trail
# writes from: blank takes the first number assistants_by_phone_number_id maps to cobranca.
billing_phone_number_id = ""
# Who may call billing_api, e.g. ["serviceAccount:billing@erp-project.iam.gserviceaccount.com"].
billing_api_invokers = []

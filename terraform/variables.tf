# ---------------------------------------------------------------------------------------------
# Where and what
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project that hosts one environment of Atende."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the Cloud Functions and of the function source bucket (Pub/Sub, IAM and Secret Manager are global)."
  type        = string
  default     = "southamerica-east1"
}

variable "environment" {
  description = "Environment name; becomes ATENDE_ENV in every function and a label on every resource."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod", "production"], var.environment)
    error_message = "environment must be one of dev, staging, prod, production (the values shared.settings accepts)."
  }
}

variable "github_repository" {
  description = "GitHub repository, as \"owner/name\", whose workflows may deploy through Workload Identity Federation."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must look like \"owner/name\"."
  }
}

variable "github_environment" {
  description = "GitHub environment whose jobs may deploy here (the deploy job's `environment:`); null means the same name as var.environment."
  type        = string
  default     = null
}

variable "wif_pool_id" {
  description = "Id of the workload identity pool created for GitHub Actions."
  type        = string
  default     = "atende-github"
}

# ---------------------------------------------------------------------------------------------
# Firestore
# ---------------------------------------------------------------------------------------------

variable "firestore_location" {
  description = "Location of the (default) Firestore database (a region such as southamerica-east1 or a multi-region such as nam5). It cannot change after creation."
  type        = string
  default     = "southamerica-east1"
}

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of point-in-time recovery for the Firestore database."
  type        = bool
  default     = true
}

variable "firestore_delete_protection" {
  description = "Refuse deletion of the Firestore database while true."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------

variable "function_settings" {
  description = <<-EOT
    Sizing per function, keyed by function directory name (webhook, intake, agent_turn, outbound,
    dead_letter, handoff_notifier, tools_hub, console, followups, billing_api). Omitted attributes take the defaults shown in the
    type; an omitted function takes them all. cpu is applied only when concurrency > 1 (Cloud
    Functions requires at least 1 vCPU to serve concurrent requests); otherwise it is derived
    from memory.
  EOT
  type = map(object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string, "1")
    timeout_seconds = optional(number, 55)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 10)
    concurrency     = optional(number, 1)
  }))
  default = {
    webhook = {
      timeout_seconds = 30
      max_instances   = 20
      concurrency     = 20
    }
    intake = {
      max_instances = 20
      concurrency   = 10
    }
    agent_turn = {
      memory          = "2Gi"
      timeout_seconds = 540
      max_instances   = 20
      concurrency     = 8
    }
    outbound = {
      max_instances = 20
      concurrency   = 10
    }
    dead_letter = {
      memory        = "256Mi"
      max_instances = 3
    }
    handoff_notifier = {
      memory        = "256Mi"
      max_instances = 3
    }
    # A few analysts: small, one instance serves their page loads concurrently.
    console = {
      timeout_seconds = 60
      max_instances   = 3
      concurrency     = 20
    }
    # Short lookups; one instance serves many agent turns at once.
    tools_hub = {
      timeout_seconds = 30
      max_instances   = 10
      concurrency     = 40
    }
    # One tick at a time per instance; a tick is a batch of trails and can take minutes
    # (within the 600 s ack deadline of followup-ticks-followups). Two instances let a late
    # tick overlap the next one; the store's transactions keep overlapping ticks apart.
    followups = {
      timeout_seconds = 540
      max_instances   = 2
    }
    # An import of up to 1,000 debts, each written in its own transaction.
    billing_api = {
      timeout_seconds = 300
      max_instances   = 5
      concurrency     = 4
    }
  }

  validation {
    condition = alltrue([
      for name in keys(var.function_settings) :
      contains(["webhook", "intake", "agent_turn", "outbound", "dead_letter", "handoff_notifier", "tools_hub", "console", "followups", "billing_api"], name)
    ])
    error_message = "function_settings keys must be function directory names: webhook, intake, agent_turn, outbound, dead_letter, handoff_notifier, tools_hub, console, followups, billing_api."
  }

  validation {
    condition = alltrue([
      for s in values(var.function_settings) :
      s.min_instances >= 0 && s.max_instances >= 1 && s.min_instances <= s.max_instances
    ])
    error_message = "Each function needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition = alltrue([
      for s in values(var.function_settings) :
      s.concurrency >= 1 && s.concurrency <= 1000 && (s.concurrency == 1 || tonumber(s.cpu) >= 1)
    ])
    error_message = "concurrency must be 1-1000, and a function with concurrency > 1 needs cpu >= 1."
  }

  validation {
    condition     = alltrue([for s in values(var.function_settings) : s.timeout_seconds >= 1 && s.timeout_seconds <= 3600])
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "worker_ingress_settings" {
  description = "Ingress of the Pub/Sub-driven functions. ALLOW_INTERNAL_ONLY admits Pub/Sub push from this project and VPC traffic only; ALLOW_ALL is a fallback (IAM still requires the invoker role)."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.worker_ingress_settings)
    error_message = "worker_ingress_settings must be ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

variable "tools_hub_ingress_settings" {
  description = "Ingress of the tools hub. agent_turn calls it on its run.app URL from outside any VPC, which Cloud Run counts as external traffic, so the default is ALLOW_ALL; IAM still admits only agent_turn's account (roles/run.invoker) with an identity token. ALLOW_INTERNAL_ONLY needs agent_turn's egress routed through a VPC, which this configuration does not create."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.tools_hub_ingress_settings)
    error_message = "tools_hub_ingress_settings must be ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

variable "billing_api_ingress_settings" {
  description = "Ingress of billing_api. The billing system calls its run.app URL from outside Google Cloud, which Cloud Run counts as external traffic, so the default is ALLOW_ALL; IAM still admits only billing_api_invokers, each request with a Google identity token. ALLOW_INTERNAL_ONLY suits a billing system inside this project's VPC."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.billing_api_ingress_settings)
    error_message = "billing_api_ingress_settings must be ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

variable "webhook_max_body_bytes" {
  description = "WEBHOOK_MAX_BODY_BYTES: largest POST body the webhook accepts before answering 413."
  type        = number
  default     = 5242880
}

variable "default_assistant" {
  description = "DEFAULT_ASSISTANT: assistant that answers a WhatsApp phone number id missing from assistants_by_phone_number_id."
  type        = string
  default     = "sac"
}

variable "assistants_by_phone_number_id" {
  description = "ASSISTANTS_BY_PHONE_NUMBER_ID: WhatsApp phone number id => assistant name (sent to the function as JSON)."
  type        = map(string)
  default     = {}
}

variable "quiet_period_seconds" {
  description = "QUIET_PERIOD_SECONDS: how long agent_turn waits for a customer to stop typing before answering a burst."
  type        = number
  default     = 2
}

variable "max_wait_seconds" {
  description = "MAX_WAIT_SECONDS: longest agent_turn waits for a burst to end before answering anyway."
  type        = number
  default     = 8
}

variable "lease_seconds" {
  description = "LEASE_SECONDS: lifetime of the per-conversation lease held by agent_turn."
  type        = number
  default     = 120
}

variable "kb_min_score" {
  description = "KB_MIN_SCORE: lowest knowledge-base similarity an answer may rest on, and only when the keyword search agrees on the entry."
  type        = number
  default     = 0.42
}

variable "kb_sure_score" {
  description = "KB_SURE_SCORE: knowledge-base similarity at which an entry answers on its own."
  type        = number
  default     = 0.60
}

variable "kb_backend" {
  description = "KB_BACKEND: where agent_turn searches the knowledge base, firestore (vector search in the (default) database) or mongodb (Atlas Vector Search; the URI is the secret mongodb-uri)."
  type        = string
  default     = "firestore"

  validation {
    condition     = contains(["firestore", "mongodb"], var.kb_backend)
    error_message = "kb_backend must be firestore or mongodb (the values shared.settings accepts)."
  }
}

variable "embedding_backend" {
  description = "EMBEDDING_BACKEND: local (USE v3, 512-d, no API calls) or vertex (text-multilingual-embedding-002, 768-d); sets the Firestore vector index dimension too."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "vertex"], var.embedding_backend)
    error_message = "embedding_backend must be local or vertex (the values shared.settings accepts)."
  }
}

variable "vertex_location" {
  description = "VERTEX_LOCATION: Vertex AI region for Gemini and the embeddings."
  type        = string
  default     = "us-central1"
}

variable "llm_backend" {
  description = "LLM_BACKEND: offline (retrieval-based reasoner, no model calls) or vertex (Gemini, then its fallback models, then offline)."
  type        = string
  default     = "vertex"

  validation {
    condition     = contains(["offline", "vertex"], var.llm_backend)
    error_message = "llm_backend must be offline or vertex (the values shared.settings accepts)."
  }
}

variable "vertex_chat_model" {
  description = "VERTEX_CHAT_MODEL: the Gemini model the agents ask first."
  type        = string
  default     = "gemini-2.5-flash"
}

variable "vertex_fallback_models" {
  description = "VERTEX_FALLBACK_MODELS: models tried in order when the first fails with a quota, server or timeout error (another model has its own quota)."
  type        = list(string)
  default     = ["gemini-2.5-flash-lite"]
}

variable "ocr_enabled" {
  description = "OCR_ENABLED: read the text off customers' images (receipts); false hands every image to a human."
  type        = bool
  default     = true
}

variable "whatsapp_api_base_url" {
  description = "WHATSAPP_API_BASE_URL: base URL of the WhatsApp Cloud API (Graph API)."
  type        = string
  default     = "https://graph.facebook.com"
}

variable "console_base_url" {
  description = "CONSOLE_BASE_URL: https base URL of the analysts' console; each handoff card in Google Chat links to <url>/tickets/<ticket id>. Empty (the default, while no console is deployed) leaves the link off the card."
  type        = string
  default     = ""

  validation {
    condition     = var.console_base_url == "" || can(regex("^https://[^/?#]+(/[^?#]*)?$", var.console_base_url))
    error_message = "console_base_url must be empty or an https URL without a query or fragment."
  }
}

variable "whatsapp_api_version" {
  description = "WHATSAPP_API_VERSION: Graph API version used by outbound."
  type        = string
  default     = "v23.0"
}

# ---------------------------------------------------------------------------------------------
# Pub/Sub delivery
# ---------------------------------------------------------------------------------------------

variable "retry_minimum_backoff_seconds" {
  description = "Shortest wait before Pub/Sub redelivers a message a function did not acknowledge."
  type        = number
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be between 0 and 600."
  }
}

variable "retry_maximum_backoff_seconds" {
  description = "Longest wait between two deliveries of the same message (exponential backoff cap)."
  type        = number
  default     = 600

  validation {
    condition     = var.retry_maximum_backoff_seconds >= 0 && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be between 0 and 600."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "message_retention_seconds" {
  description = "How long a subscription keeps unacknowledged messages (handoffs-console, dead-letter-inspect and the push subscriptions)."
  type        = number
  default     = 604800

  validation {
    condition     = var.message_retention_seconds >= 600 && var.message_retention_seconds <= 2678400
    error_message = "message_retention_seconds must be between 600 (10 minutes) and 2678400 (31 days)."
  }
}

# ---------------------------------------------------------------------------------------------
# Monitoring (monitoring.tf; runbook in docs/operations.md)
# ---------------------------------------------------------------------------------------------

variable "alert_email_addresses" {
  description = "Email addresses that receive every alert (one Cloud Monitoring email channel each). Empty: the alerts still open incidents in the console, but notify nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_email_addresses : can(regex("^[^@ ]+@[^@ ]+[.][^@ ]+$", address))])
    error_message = "alert_email_addresses must hold email addresses."
  }
}

variable "alert_error_ratio" {
  description = "Share of a function's requests ending in 5xx, sustained for 10 minutes, that opens an incident (0.05 = 5%)."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_error_ratio > 0 && var.alert_error_ratio <= 1
    error_message = "alert_error_ratio must be in (0, 1]."
  }
}

variable "webhook_p99_latency_threshold_ms" {
  description = "99th percentile latency of the webhook, in milliseconds, sustained for 10 minutes, that opens an incident."
  type        = number
  default     = 2000

  validation {
    condition     = var.webhook_p99_latency_threshold_ms > 0
    error_message = "webhook_p99_latency_threshold_ms must be positive."
  }
}

variable "llm_daily_budget_usd" {
  description = "Language-model spend (list price, US dollars) over a rolling 24 hours that opens an incident. See docs/cost.md for what a conversation costs."
  type        = number
  default     = 20

  validation {
    condition     = var.llm_daily_budget_usd > 0
    error_message = "llm_daily_budget_usd must be positive."
  }
}

variable "pubsub_oldest_unacked_alert_seconds" {
  description = "Age, in seconds, of the oldest unacknowledged message on a push subscription that opens an incident (a message being retried or stuck)."
  type        = number
  default     = 1800

  validation {
    condition     = var.pubsub_oldest_unacked_alert_seconds >= 60
    error_message = "pubsub_oldest_unacked_alert_seconds must be at least 60."
  }
}

# ---------------------------------------------------------------------------------------------
# Traces (shared/tracing.py; docs/operations.md, "Traces")
# ---------------------------------------------------------------------------------------------

variable "trace_exporter" {
  description = "TRACE_EXPORTER: gcp sends every function's OpenTelemetry spans to Cloud Trace (and grants its runtime accounts roles/cloudtrace.agent); none turns tracing off."
  type        = string
  default     = "gcp"

  validation {
    condition     = contains(["none", "gcp"], var.trace_exporter)
    error_message = "trace_exporter must be none or gcp (console and jsonl are for local runs)."
  }
}

variable "trace_sample_ratio" {
  description = "TRACE_SAMPLE_RATIO: share of webhook requests whose trace is kept, from 0 to 1; every later hop follows the webhook's decision, so a trace is kept whole or not at all."
  type        = number
  default     = 1

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio must be between 0 and 1."
  }
}

variable "console_audience" {
  description = "Audience the console's Google ID tokens or IAP assertions must carry (IAP: /projects/NUMBER/global/backendServices/ID); blank refuses every token."
  type        = string
  default     = ""
}

variable "console_users" {
  description = "Bootstrap console roles, email => analyst or admin; Firestore console_users takes precedence."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for role in values(var.console_users) : contains(["analyst", "admin"], role)])
    error_message = "console_users roles must be analyst or admin."
  }
}

variable "console_invokers" {
  description = "Members allowed to invoke the private console function (for example the IAP service agent, or group:analysts@example.com)."
  type        = list(string)
  default     = []
}

variable "billing_api_invokers" {
  description = "Members allowed to invoke the private billing_api function: the billing system's identity, for example serviceAccount:billing@other-project.iam.gserviceaccount.com or a workload identity principal. Empty: nobody can call it."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.billing_api_invokers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", member))])
    error_message = "billing_api_invokers must be IAM members (serviceAccount:..., group:..., principal://..., ...); allUsers and allAuthenticatedUsers are refused."
  }
}

# ---------------------------------------------------------------------------------------------
# Follow-ups and billing (scheduler.tf; shared.billing_policy, shared.handlers.followups)
# ---------------------------------------------------------------------------------------------

variable "followup_tick_schedule" {
  description = "Cron schedule (in followup_time_zone) on which Cloud Scheduler publishes a tick to followup-ticks. A tick does whatever is due at that moment, so the interval is the lateness a notice may have."
  type        = string
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.followup_tick_schedule))) == 5
    error_message = "followup_tick_schedule must be a five-field cron expression, such as */5 * * * *."
  }
}

variable "billing_phone_number_id" {
  description = "BILLING_PHONE_NUMBER_ID: WhatsApp phone number id (Meta's id, not the number) the billing trail writes from. Blank: the first number assistants_by_phone_number_id maps to cobranca."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[0-9]*$", var.billing_phone_number_id))
    error_message = "billing_phone_number_id must be blank or the digits of a WhatsApp phone number id."
  }
}

variable "followup_cadence" {
  description = "FOLLOWUP_CADENCE: offset of each notice from the debt's due date, in order (d, h, m or s; a bare number is days)."
  type        = list(string)
  default     = ["0d", "2d", "5d", "10d"]

  validation {
    condition     = length(var.followup_cadence) >= 1 && alltrue([for step in var.followup_cadence : can(regex("^[0-9]+([.][0-9]+)?[dhms]?$", step))])
    error_message = "followup_cadence must hold at least one offset like 0d, 2d, 12h, 30m or 45s."
  }
}

variable "followup_receipt_template" {
  description = "FOLLOWUP_RECEIPT_TEMPLATE: approved WhatsApp template that thanks a debtor for a payment (first name, invoice, amount paid); empty sends no thanks."
  type        = string
  default     = "cobranca_pagamento"

  validation {
    condition     = can(regex("^[a-z0-9_]*$", var.followup_receipt_template))
    error_message = "followup_receipt_template must be a template name (lowercase letters, digits, underscores) or empty."
  }
}

variable "followup_templates" {
  description = "FOLLOWUP_TEMPLATES: approved WhatsApp template per trail step, in order; the last one serves every later step."
  type        = list(string)
  default     = ["cobranca_aviso", "cobranca_lembrete"]

  validation {
    condition     = length(var.followup_templates) >= 1 && alltrue([for name in var.followup_templates : can(regex("^[a-z0-9_]+$", name))])
    error_message = "followup_templates must hold at least one template name (lowercase letters, digits, underscores)."
  }
}

variable "followup_template_language" {
  description = "FOLLOWUP_TEMPLATE_LANGUAGE: language code of the trail's templates, as approved in WhatsApp Manager."
  type        = string
  default     = "pt_BR"
}

variable "followup_max_attempts" {
  description = "FOLLOWUP_MAX_ATTEMPTS: notices a trail sends before it stops as exhausted."
  type        = number
  default     = 6

  validation {
    condition     = var.followup_max_attempts >= 1
    error_message = "followup_max_attempts must be at least 1."
  }
}

variable "followup_time_zone" {
  description = "FOLLOWUP_TIME_ZONE: tz database zone of the send window for debtors without their own, and the zone of followup_tick_schedule."
  type        = string
  default     = "America/Sao_Paulo"

  validation {
    condition     = can(regex("^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$", var.followup_time_zone))
    error_message = "followup_time_zone must be a tz database name such as America/Sao_Paulo, or UTC."
  }
}

variable "followup_send_window" {
  description = "FOLLOWUP_SEND_WINDOW: hours, in the debtor's zone, when notices may go out (HH:MM-HH:MM; 24:00 for midnight)."
  type        = string
  default     = "08:00-20:00"

  validation {
    condition     = can(regex("^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$", var.followup_send_window))
    error_message = "followup_send_window must look like 08:00-20:00."
  }
}

variable "followup_send_days" {
  description = "FOLLOWUP_SEND_DAYS: weekdays when notices may go out, as a range or a list (mon-sat, mon,wed,fri)."
  type        = string
  default     = "mon-sat"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?(,(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?)*$", var.followup_send_days))
    error_message = "followup_send_days must look like mon-sat or mon,wed,fri."
  }
}

variable "followup_holidays" {
  description = "FOLLOWUP_HOLIDAYS: region whose public holidays get no notices (python-holidays codes: BR, or BR-SP for a state too); blank for none."
  type        = string
  default     = "BR"

  validation {
    condition     = can(regex("^([A-Z]{2}(-[A-Z0-9]{1,3})?)?$", var.followup_holidays))
    error_message = "followup_holidays must be blank, a country code such as BR, or a country and subdivision such as BR-SP."
  }
}

variable "followup_extra_holidays" {
  description = "FOLLOWUP_EXTRA_HOLIDAYS: further days without notices (YYYY-MM-DD), such as the company's own days off."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for day in var.followup_extra_holidays : can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", day))])
    error_message = "followup_extra_holidays must hold dates like 2026-12-24."
  }
}

variable "followup_batch" {
  description = "FOLLOWUP_BATCH: most trails (and idle tickets, stale leases) one tick handles; the rest wait for the next tick."
  type        = number
  default     = 200

  validation {
    condition     = var.followup_batch >= 1
    error_message = "followup_batch must be at least 1."
  }
}

variable "idle_finish_hours" {
  description = "IDLE_FINISH_HOURS: hours after which a ticket the AI answered (IAR) with no reply from the customer is finished (F) by a tick."
  type        = number
  default     = 24

  validation {
    condition     = var.idle_finish_hours > 0
    error_message = "idle_finish_hours must be positive."
  }
}

variable "instalments_max" {
  description = "INSTALMENTS_MAX: most instalments the billing agent may agree to on its own."
  type        = number
  default     = 3

  validation {
    condition     = var.instalments_max >= 1
    error_message = "instalments_max must be at least 1."
  }
}

variable "instalment_min_amount" {
  description = "INSTALMENT_MIN_AMOUNT: smallest instalment, in reais, the billing agent may agree to."
  type        = number
  default     = 50

  validation {
    condition     = var.instalment_min_amount > 0
    error_message = "instalment_min_amount must be positive."
  }
}

variable "promise_max_days" {
  description = "PROMISE_MAX_DAYS: furthest ahead, in days, a debtor's promise to pay may be accepted by the billing agent."
  type        = number
  default     = 30

  validation {
    condition     = var.promise_max_days >= 1
    error_message = "promise_max_days must be at least 1."
  }
}

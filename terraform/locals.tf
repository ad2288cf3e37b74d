locals {
  labels = {
    app         = "atende"
    environment = var.environment
    managed-by  = "terraform"
  }

  # GitHub side of Workload Identity Federation (wif.tf).
  github_owner       = split("/", var.github_repository)[0]
  github_repo_name   = split("/", var.github_repository)[1]
  github_environment = coalesce(var.github_environment, var.environment)

  # Names the Python code uses verbatim (shared/settings.py defaults and secret ids).
  topics = toset(["inbound", "agent-turns", "outbound", "handoffs", "followup-ticks", "dead-letter"])
  secret_ids = toset([
    "whatsapp-app-secret",
    "whatsapp-verify-token",
    "whatsapp-access-token",
    "log-pseudonym-key",
    "mongodb-uri",
    "google-chat-webhook-url",
    "console-session-key",
  ])

  # Every function reads these.
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    ATENDE_ENV           = var.environment
    SECRETS_BACKEND      = "secretmanager" #checkov:skip=CKV_SECRET_6:Names the secrets backend; not a secret value.
    FIRESTORE_DATABASE   = google_firestore_database.default.name
    TRACE_EXPORTER       = var.trace_exporter
    TRACE_SAMPLE_RATIO   = tostring(var.trace_sample_ratio)
  }

  # One entry per directory under functions/. The source is build/<name>, made by
  # scripts/build_bundles.py. "publishes_to" drives topic-level roles/pubsub.publisher,
  # "secrets" drives secret-level roles/secretmanager.secretAccessor, "project_roles" adds to
  # the project roles every function gets (local.runtime_project_roles).
  functions = {
    webhook = {
      entry_point = "webhook"
      description = "WhatsApp Cloud API webhook: verifies the signature and publishes updates to inbound."
      public      = true
      env = {
        TOPIC_INBOUND          = "inbound"
        WEBHOOK_MAX_BODY_BYTES = tostring(var.webhook_max_body_bytes)
      }
      secrets       = ["whatsapp-app-secret", "whatsapp-verify-token", "log-pseudonym-key"]
      publishes_to  = ["inbound"]
      project_roles = []
    }
    intake = {
      entry_point = "intake"
      description = "Deduplicates and persists inbound updates, then schedules an agent turn."
      public      = false
      env = {
        TOPIC_AGENT_TURNS             = "agent-turns"
        TOPIC_DEAD_LETTER             = "dead-letter"
        DEFAULT_ASSISTANT             = var.default_assistant
        ASSISTANTS_BY_PHONE_NUMBER_ID = jsonencode(var.assistants_by_phone_number_id)
      }
      secrets       = ["log-pseudonym-key"]
      publishes_to  = ["agent-turns", "dead-letter"]
      project_roles = []
    }
    agent_turn = {
      entry_point = "agent_turn"
      description = "Coalesces pending messages under a conversation lease and runs the agent graph."
      public      = false
      env = {
        TOPIC_AGENT_TURNS    = "agent-turns"
        TOPIC_OUTBOUND       = "outbound"
        TOPIC_HANDOFFS       = "handoffs"
        TOPIC_DEAD_LETTER    = "dead-letter"
        QUIET_PERIOD_SECONDS = tostring(var.quiet_period_seconds)
        MAX_WAIT_SECONDS     = tostring(var.max_wait_seconds)
        LEASE_SECONDS        = tostring(var.lease_seconds)
        KB_MIN_SCORE         = tostring(var.kb_min_score)
        KB_SURE_SCORE        = tostring(var.kb_sure_score)
        KB_BACKEND           = var.kb_backend
        EMBEDDING_BACKEND    = var.embedding_backend
        VERTEX_LOCATION      = var.vertex_location
        TOOLS_HUB_URL        = "${local.tools_hub_url}/mcp"
        LLM_BACKEND          = var.llm_backend
        VERTEX_CHAT_MODEL    = var.vertex_chat_model
        # Comma-separated; the offline reasoner answers when every one of them fails.
        VERTEX_FALLBACK_MODELS = join(",", var.vertex_fallback_models)
        OCR_ENABLED            = tostring(var.ocr_enabled)
        WHATSAPP_API_BASE_URL  = var.whatsapp_api_base_url
        WHATSAPP_API_VERSION   = var.whatsapp_api_version
        # What the billing agent may agree to on its own.
        INSTALMENTS_MAX       = tostring(var.instalments_max)
        INSTALMENT_MIN_AMOUNT = tostring(var.instalment_min_amount)
        PROMISE_MAX_DAYS      = tostring(var.promise_max_days)
        # The reminder trail, as followups sees it: a debtor's promise or plan moves it.
        FOLLOWUP_CADENCE           = join(",", var.followup_cadence)
        FOLLOWUP_TEMPLATES         = join(",", var.followup_templates)
        FOLLOWUP_TEMPLATE_LANGUAGE = var.followup_template_language
        FOLLOWUP_RECEIPT_TEMPLATE  = var.followup_receipt_template
        FOLLOWUP_MAX_ATTEMPTS      = tostring(var.followup_max_attempts)
        FOLLOWUP_TIME_ZONE         = var.followup_time_zone
        FOLLOWUP_SEND_WINDOW       = var.followup_send_window
        FOLLOWUP_SEND_DAYS         = var.followup_send_days
        FOLLOWUP_HOLIDAYS          = var.followup_holidays
        FOLLOWUP_EXTRA_HOLIDAYS    = join(",", var.followup_extra_holidays)
      }
      # mongodb-uri is read only with kb_backend = "mongodb"; without a version it holds nothing.
      # whatsapp-access-token downloads the images customers send (OCR of receipts).
      secrets      = ["log-pseudonym-key", "mongodb-uri", "whatsapp-access-token"]
      publishes_to = ["outbound", "handoffs", "agent-turns", "dead-letter"]
      # Vertex AI only when Gemini answers or Vertex embeds the questions.
      project_roles = (
        var.embedding_backend == "vertex" || var.llm_backend == "vertex"
        ? ["roles/aiplatform.user"] : []
      )
    }
    outbound = {
      entry_point = "outbound"
      description = "Sends answers through the WhatsApp Cloud API, idempotently."
      public      = false
      env = {
        TOPIC_DEAD_LETTER     = "dead-letter"
        WHATSAPP_API_BASE_URL = var.whatsapp_api_base_url
        WHATSAPP_API_VERSION  = var.whatsapp_api_version
        # One below the subscription's limit: the function parks the send itself, with
        # the last error as the reason, before Pub/Sub would dead-letter it blindly.
        MAX_SEND_ATTEMPTS = tostring(var.max_delivery_attempts - 1)
      }
      secrets       = ["whatsapp-access-token", "log-pseudonym-key"]
      publishes_to  = ["dead-letter"]
      project_roles = []
    }
    dead_letter = {
      entry_point   = "dead_letter"
      description   = "Records every dead-lettered message so nothing a customer sent is lost."
      public        = false
      env           = {}
      secrets       = ["log-pseudonym-key"]
      publishes_to  = []
      project_roles = []
    }
    # Posts each handoff card to the analysts' Google Chat space through its incoming webhook;
    # the only function that may read the webhook URL.
    handoff_notifier = {
      entry_point = "handoff_notifier"
      description = "Posts each handoff card to the analysts' Google Chat space, once."
      public      = false
      env = {
        TOPIC_DEAD_LETTER = "dead-letter"
        CONSOLE_BASE_URL  = var.console_base_url
        # One below the subscription's limit, as for outbound: the dead letter names the
        # last failure.
        MAX_SEND_ATTEMPTS = tostring(var.max_delivery_attempts - 1)
      }
      secrets       = ["google-chat-webhook-url", "log-pseudonym-key"]
      publishes_to  = ["dead-letter"]
      project_roles = []
    }
    # The analysts' console (HTTP). Private: only var.console_invokers may call it (iam.tf), and
    # it checks each request's Google ID token or IAP assertion against CONSOLE_AUDIENCE. It
    # publishes analysts' replies to outbound and writes the knowledge base. Its prompts'
    # staging chat runs the agent graph, so it gets what agent_turn's graph needs: the
    # scores, the reasoner (and Vertex AI with Gemini) and the tools hub (invoker in iam.tf).
    console = {
      entry_point = "console"
      description = "The analysts' console: queue, tickets, replies, knowledge base, dashboard."
      public      = false
      env = {
        CONSOLE_AUDIENCE  = var.console_audience
        CONSOLE_USERS     = jsonencode(var.console_users)
        TOPIC_OUTBOUND    = "outbound"
        KB_BACKEND        = var.kb_backend
        EMBEDDING_BACKEND = var.embedding_backend
        VERTEX_LOCATION   = var.vertex_location
        KB_MIN_SCORE      = tostring(var.kb_min_score)
        KB_SURE_SCORE     = tostring(var.kb_sure_score)
        TOOLS_HUB_URL     = "${local.tools_hub_url}/mcp"
        LLM_BACKEND       = var.llm_backend
        VERTEX_CHAT_MODEL = var.vertex_chat_model
        # Comma-separated, as for agent_turn.
        VERTEX_FALLBACK_MODELS = join(",", var.vertex_fallback_models)
        # The ticket page shows the customers' images through the WhatsApp media API.
        WHATSAPP_API_BASE_URL = var.whatsapp_api_base_url
        WHATSAPP_API_VERSION  = var.whatsapp_api_version
      }
      # mongodb-uri only with kb_backend = "mongodb" (an answer taught to the knowledge base);
      # whatsapp-access-token to fetch the customers' images for the ticket page.
      secrets      = ["console-session-key", "log-pseudonym-key", "mongodb-uri", "whatsapp-access-token"]
      publishes_to = ["outbound"]
      # Vertex AI only when Vertex embeds the entries analysts add or Gemini answers the
      # staging chat.
      project_roles = (
        var.embedding_backend == "vertex" || var.llm_backend == "vertex"
        ? ["roles/aiplatform.user"] : []
      )
    }
    # The MCP hub of business tools (orders, invoices, stores, tickets). Private: only
    # agent_turn's account may invoke it (iam.tf). It reads the business data bundled with it,
    # and the imported debts (Firestore collection debts, for invoice_copy) read-only:
    # roles/datastore.viewer instead of every function's datastore.user.
    tools_hub = {
      entry_point   = "tools_hub"
      description   = "MCP hub of the business tools (orders, invoices, stores, tickets), called by agent_turn."
      public        = false
      env           = {}
      secrets       = ["log-pseudonym-key"]
      publishes_to  = []
      project_roles = ["roles/datastore.viewer"]
    }
    # The scheduled work, on each tick Cloud Scheduler publishes to followup-ticks
    # (scheduler.tf): the reminder trails' due notices (to outbound), idle IAR tickets
    # finished, expired knowledge-base entries purged, stale leases freed and their waiting
    # conversations requeued (to agent-turns).
    followups = {
      entry_point = "followups"
      description = "Sends the reminder trails' due notices and does the housekeeping, on each scheduler tick."
      public      = false
      env = {
        TOPIC_OUTBOUND    = "outbound"
        TOPIC_AGENT_TURNS = "agent-turns"
        TOPIC_DEAD_LETTER = "dead-letter"
        # The number the trail writes from; blank = the first number the mapping (the same
        # as intake's) gives to the billing assistant.
        BILLING_PHONE_NUMBER_ID       = var.billing_phone_number_id
        ASSISTANTS_BY_PHONE_NUMBER_ID = jsonencode(var.assistants_by_phone_number_id)
        FOLLOWUP_BATCH                = tostring(var.followup_batch)
        IDLE_FINISH_HOURS             = tostring(var.idle_finish_hours)
        # The knowledge base it purges of expired entries, as agent_turn and the console see it.
        KB_BACKEND        = var.kb_backend
        EMBEDDING_BACKEND = var.embedding_backend
        VERTEX_LOCATION   = var.vertex_location
        # The reminder trail (shared.billing_policy.trail_policy). billing_api and agent_turn
        # read the same ten; test_terraform_crosscheck.py keeps the three in step.
        FOLLOWUP_CADENCE           = join(",", var.followup_cadence)
        FOLLOWUP_TEMPLATES         = join(",", var.followup_templates)
        FOLLOWUP_TEMPLATE_LANGUAGE = var.followup_template_language
        FOLLOWUP_RECEIPT_TEMPLATE  = var.followup_receipt_template
        FOLLOWUP_MAX_ATTEMPTS      = tostring(var.followup_max_attempts)
        FOLLOWUP_TIME_ZONE         = var.followup_time_zone
        FOLLOWUP_SEND_WINDOW       = var.followup_send_window
        FOLLOWUP_SEND_DAYS         = var.followup_send_days
        FOLLOWUP_HOLIDAYS          = var.followup_holidays
        FOLLOWUP_EXTRA_HOLIDAYS    = join(",", var.followup_extra_holidays)
      }
      # mongodb-uri is read only with kb_backend = "mongodb" (the purge of expired entries).
      secrets      = ["log-pseudonym-key", "mongodb-uri"]
      publishes_to = ["outbound", "agent-turns", "dead-letter"]
      # The knowledge base it opens builds the configured embedder (Vertex AI with
      # embedding_backend = "vertex"), as for agent_turn.
      project_roles = var.embedding_backend == "vertex" ? ["roles/aiplatform.user"] : []
    }
    # The billing system's API (HTTP): debts in (each new one starts its trail), payment
    # events in, a debt's trail out. Private: only var.billing_api_invokers may call it.
    billing_api = {
      entry_point = "billing_api"
      description = "The billing system's API: imports debts, records payment events, shows a debt's trail."
      public      = false
      env = {
        # The reminder trail, as followups sees it: the first notice of a new debt.
        FOLLOWUP_CADENCE           = join(",", var.followup_cadence)
        FOLLOWUP_TEMPLATES         = join(",", var.followup_templates)
        FOLLOWUP_TEMPLATE_LANGUAGE = var.followup_template_language
        FOLLOWUP_RECEIPT_TEMPLATE  = var.followup_receipt_template
        FOLLOWUP_MAX_ATTEMPTS      = tostring(var.followup_max_attempts)
        FOLLOWUP_TIME_ZONE         = var.followup_time_zone
        FOLLOWUP_SEND_WINDOW       = var.followup_send_window
        FOLLOWUP_SEND_DAYS         = var.followup_send_days
        FOLLOWUP_HOLIDAYS          = var.followup_holidays
        FOLLOWUP_EXTRA_HOLIDAYS    = join(",", var.followup_extra_holidays)
      }
      secrets       = ["log-pseudonym-key"]
      publishes_to  = []
      project_roles = []
    }
  }

  # The hub's deterministic Cloud Run URL, https://SERVICE-PROJECT_NUMBER.REGION.run.app, with
  # the service named like the function (tools-hub). agent_turn's TOOLS_HUB_URL cannot read
  # the hub's service_config[0].uri: both functions come from the same resource block, which
  # may not refer to itself. It is also the audience of agent_turn's identity tokens.
  tools_hub_url = "https://tools-hub-${data.google_project.this.number}.${var.region}.run.app"

  # Ingress per function when not the default of its kind (public or worker). The billing
  # system calls billing_api from outside Google Cloud: external traffic, IAM still applies.
  ingress_overrides = {
    tools_hub   = var.tools_hub_ingress_settings
    billing_api = var.billing_api_ingress_settings
  }

  # Functions that get no roles/datastore.user: the tools hub only reads Firestore (debts),
  # with roles/datastore.viewer from its project_roles.
  functions_without_firestore = toset(["tools_hub"])

  # Sizing: the caller's value when given, the type's defaults otherwise.
  default_function_settings = {
    memory          = "512Mi"
    cpu             = "1"
    timeout_seconds = 55
    min_instances   = 0
    max_instances   = 10
    concurrency     = 1
  }
  function_settings = {
    for name in keys(local.functions) : name => lookup(var.function_settings, name, local.default_function_settings)
  }

  # Project-level roles of every function's service account. Firestore has no finer IAM
  # than the project.
  runtime_project_roles = ["roles/datastore.user", "roles/logging.logWriter", "roles/monitoring.metricWriter"]
  # Writing spans to Cloud Trace, for every function, when they are exported there.
  trace_project_roles = var.trace_exporter == "gcp" ? ["roles/cloudtrace.agent"] : []

  # Push subscriptions, each delivering one topic to one function URL with its own invoker
  # service account. The ack deadline is also the push request timeout, so each function's
  # timeout_seconds must stay within it (checked by a precondition in pubsub.tf).
  push_subscriptions = {
    "inbound-intake" = {
      topic                = "inbound"
      function             = "intake"
      ack_deadline_seconds = 60
      message_ordering     = true
      dead_letter          = true
    }
    "agent-turns-agent-turn" = {
      topic                = "agent-turns"
      function             = "agent_turn"
      ack_deadline_seconds = 600
      message_ordering     = true
      dead_letter          = true
    }
    "outbound-outbound" = {
      topic                = "outbound"
      function             = "outbound"
      ack_deadline_seconds = 60
      message_ordering     = true
      dead_letter          = true
    }
    # Cards carry no ordering key.
    "handoffs-handoff-notifier" = {
      topic                = "handoffs"
      function             = "handoff_notifier"
      ack_deadline_seconds = 60
      message_ordering     = false
      dead_letter          = true
    }
    # Ticks carry no ordering key; a tick's work (a batch of trails) can take minutes.
    "followup-ticks-followups" = {
      topic                = "followup-ticks"
      function             = "followups"
      ack_deadline_seconds = 600
      message_ordering     = false
      dead_letter          = true
    }
    # The recorder of dead letters has no dead letter of its own: it retries until the
    # message retention runs out, and dead-letter-inspect keeps a copy for operators.
    "dead-letter-recorder" = {
      topic                = "dead-letter"
      function             = "dead_letter"
      ack_deadline_seconds = 60
      message_ordering     = false
      dead_letter          = false
    }
  }

  # Pull subscriptions read by people or by later components.
  pull_subscriptions = {
    "handoffs-console"    = { topic = "handoffs" }
    "dead-letter-inspect" = { topic = "dead-letter" }
  }

  # Flattened (function, thing) pairs for for_each.
  function_topic_publishers = merge([
    for fn, spec in local.functions : {
      for topic in spec.publishes_to : "${fn}/${topic}" => { function = fn, topic = topic }
    }
  ]...)
  function_secret_accessors = merge([
    for fn, spec in local.functions : {
      for secret in spec.secrets : "${fn}/${secret}" => { function = fn, secret = secret }
    }
  ]...)
  function_project_roles = merge([
    for fn, spec in local.functions : {
      for role in concat(local.runtime_project_roles, local.trace_project_roles, spec.project_roles) : "${fn}/${role}" => { function = fn, role = role }
      if !(role == "roles/datastore.user" && contains(local.functions_without_firestore, fn))
    }
  ]...)

  # What the Cloud Build service account of the functions needs (Cloud Functions docs,
  # "custom build service account").
  build_project_roles = toset(["roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin"])

  # What the GitHub deploy service account needs to apply this configuration (wif.tf). No
  # primitive roles. Three more grants sit next to these in wif.tf: serviceAccountAdmin,
  # serviceAccountUser on just the accounts it attaches, and projectIamAdmin under a condition
  # that lets it add or remove only the project-level roles this configuration hands out.
  deploy_project_roles = toset([
    "roles/cloudfunctions.admin",
    "roles/cloudscheduler.admin",
    "roles/datastore.owner",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/logging.configWriter",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.dashboardEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/pubsub.admin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])
  delegated_project_roles = sort(distinct(concat(
    local.runtime_project_roles,
    local.trace_project_roles,
    flatten([for spec in local.functions : spec.project_roles]),
    tolist(local.build_project_roles),
  )))
}

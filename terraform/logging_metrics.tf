# Log-based metrics on the functions' JSON logs. In the cloud every log line is one JSON
# object (shared/observability.py): Cloud Run moves `severity` to the entry and keeps
# `message` and `logger` in jsonPayload.
#
# Two kinds of filters:
# - on the message text of lines the code writes today (messages in, turns, handoffs, turn
#   latency, outbound failures, dead letters). tests/unit/test_terraform_crosscheck.py renders
#   the logger calls of the named module and fails when a regex here stops matching them.
# - on structured fields (jsonPayload.event = "llm_call", written by shared.agents.llm_reasoner
#   for every model call, or "ticket_status", written by agent_turn; see docs/operations.md,
#   "Structured log fields"). The same test checks that the code writes each event.
#
# The regexes avoid backslashes (character classes instead of \S or \d), so no escaping
# differs between HCL, the Logging query language and RE2.

resource "google_logging_metric" "messages_in" {
  project     = var.project_id
  name        = "atende/messages_in"
  description = "Customer messages intake stored: those that wake the agent and those stored without an AI turn (a human holds the conversation). A redelivered message still pending counts again."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.intake"
    AND jsonPayload.message=~"^(message [^ ]+ from [^ ]+ wakes the agent|stored [^ ]+ message [^ ]+ from [^ ]+, no agent turn)$"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende messages in"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "turns" {
  project     = var.project_id
  name        = "atende/turns"
  description = "Agent turns answered, by route (sac, saf, billing, data, image, small_talk, human, out_of_scope)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.agent_turn"
    AND jsonPayload.message=~"^turn [^ ]+ answered [0-9]+ message.* via [^ ]+ in [0-9]+ ms$"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende turns"
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "Route the agent graph took."
    }
  }
  label_extractors = {
    route = "REGEXP_EXTRACT(jsonPayload.message, \"via ([^ ]+) in [0-9]+ ms$\")"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "handoffs" {
  project     = var.project_id
  name        = "atende/handoffs"
  description = "Agent turns that handed the conversation to a human analyst, by route and kind (full: nothing answered; partial: some questions answered)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.agent_turn"
    AND jsonPayload.message=~"^turn [^ ]+ hands [^ ]+ to an analyst via [^ ]+ [(](full|partial)[)]$"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende handoffs"
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "Route the agent graph took before handing off (sac, saf, billing, data, image, human)."
    }
    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "full (nothing answered) or partial (some questions answered)."
    }
  }
  label_extractors = {
    route = "REGEXP_EXTRACT(jsonPayload.message, \"via ([^ ]+) [(]\")"
    kind  = "REGEXP_EXTRACT(jsonPayload.message, \"[(](full|partial)[)]$\")"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "turn_latency" {
  project     = var.project_id
  name        = "atende/turn_latency"
  description = "Time the agent graph took to answer one turn (retrieval and models; the quiet-period wait is not included)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.agent_turn"
    AND jsonPayload.message=~"^turn [^ ]+ answered [0-9]+ message.* via [^ ]+ in [0-9]+ ms$"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "Atende turn latency"
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "Route the agent graph took."
    }
  }
  value_extractor = "REGEXP_EXTRACT(jsonPayload.message, \"in ([0-9]+) ms$\")"
  label_extractors = {
    route = "REGEXP_EXTRACT(jsonPayload.message, \"via ([^ ]+) in [0-9]+ ms$\")"
  }

  # 10 ms to about 164 s.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 14
      growth_factor      = 2
      scale              = 10
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "outbound_failures" {
  project     = var.project_id
  name        = "atende/outbound_failures"
  description = "Sends the WhatsApp Cloud API refused for good (outside the 24-hour window, invalid number, ...). Sends that used up their attempts are dead letters from outbound; transient failures are 5xx responses of the outbound function."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.outbound"
    AND jsonPayload.message=~"^send [^ ]+ to [^ ]+ failed permanently: HTTP [^ ]+ code [^ ]+: "
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende outbound failures"
    labels {
      key         = "http_status"
      value_type  = "STRING"
      description = "HTTP status of the Graph API answer (None when the window check refused the send)."
    }
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "Graph API error code."
    }
  }
  label_extractors = {
    http_status = "REGEXP_EXTRACT(jsonPayload.message, \"failed permanently: HTTP ([^ ]+) code\")"
    error_code  = "REGEXP_EXTRACT(jsonPayload.message, \" code ([^ ]+): \")"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "dead_letters" {
  project     = var.project_id
  name        = "atende/dead_letters"
  description = "Messages the dead_letter function recorded in Firestore dead_letters, by source (a function that parked it, or the subscription whose delivery attempts ran out)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.logger="shared.handlers.dead_letter"
    AND jsonPayload.message=~"^dead letter [^ ]* from [^ ]+: "
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende dead letters"
    labels {
      key         = "source"
      value_type  = "STRING"
      description = "Function or subscription the message came from."
    }
  }
  label_extractors = {
    source = "REGEXP_EXTRACT(jsonPayload.message, \"^dead letter [^ ]* from ([^ ]+): \")"
  }

  depends_on = [google_project_service.enabled]
}

# --- Structured fields (docs/operations.md) ---------------------------------------------------

resource "google_logging_metric" "llm_calls" {
  project     = var.project_id
  name        = "atende/llm_calls"
  description = "Calls to a language model, by model, outcome (ok or error) and whether the call was a fallback after another model failed."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.event="llm_call"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende LLM calls"
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id, e.g. gemini-2.5-flash."
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "ok or error."
    }
    labels {
      key         = "fallback"
      value_type  = "STRING"
      description = "true when this call replaced a failed call to another model."
    }
  }
  label_extractors = {
    model    = "EXTRACT(jsonPayload.model)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
    fallback = "EXTRACT(jsonPayload.fallback)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "llm_cost_usd" {
  project     = var.project_id
  name        = "atende/llm_cost_usd"
  description = "List-price cost in US dollars of each language-model call (jsonPayload.cost_usd, computed by the code from the call's token counts)."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.event="llm_call"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "{USD}"
    display_name = "Atende LLM cost (USD)"
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id."
    }
  }
  value_extractor = "EXTRACT(jsonPayload.cost_usd)"
  label_extractors = {
    model = "EXTRACT(jsonPayload.model)"
  }

  # 0.00001 USD to about 84 USD per call.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 23
      growth_factor      = 2
      scale              = 0.00001
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "llm_input_tokens" {
  project     = var.project_id
  name        = "atende/llm_input_tokens"
  description = "Input (prompt) tokens of each language-model call."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.event="llm_call"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "{token}"
    display_name = "Atende LLM input tokens"
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id."
    }
  }
  value_extractor = "EXTRACT(jsonPayload.input_tokens)"
  label_extractors = {
    model = "EXTRACT(jsonPayload.model)"
  }

  # 1 to about 1M tokens.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "llm_output_tokens" {
  project     = var.project_id
  name        = "atende/llm_output_tokens"
  description = "Output tokens (response and reasoning) of each language-model call."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.event="llm_call"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "{token}"
    display_name = "Atende LLM output tokens"
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id."
    }
  }
  value_extractor = "EXTRACT(jsonPayload.output_tokens)"
  label_extractors = {
    model = "EXTRACT(jsonPayload.model)"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "ticket_status" {
  project     = var.project_id
  name        = "atende/ticket_status"
  description = "Tickets entering a status (IAN, IAR, TA, TAF, F). AI finalization rate = F / (F + TA + TAF) over the same period."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    AND jsonPayload.event="ticket_status"
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Atende ticket status changes"
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "Status the ticket entered."
    }
    labels {
      key         = "assistant"
      value_type  = "STRING"
      description = "Assistant (line of business) of the ticket."
    }
  }
  label_extractors = {
    status    = "EXTRACT(jsonPayload.status)"
    assistant = "EXTRACT(jsonPayload.assistant)"
  }

  depends_on = [google_project_service.enabled]
}

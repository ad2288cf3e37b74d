# Alerts and the dashboard. The log-based metrics they read are in logging_metrics.tf; the
# runbook for every alert is docs/operations.md.

locals {
  # Cloud Run service of each function (a 2nd-gen function is a Cloud Run service of the
  # same name).
  function_services = { for name, fn in google_cloudfunctions2_function.function : name => fn.name }
  services_one_of   = join(", ", [for name in sort(keys(local.function_services)) : "\"${local.function_services[name]}\""])
  push_subs_one_of  = join(", ", [for name in sort(keys(local.push_subscriptions)) : "\"${google_pubsub_subscription.push[name].name}\""])

  alert_notification_channels = [for channel in google_monitoring_notification_channel.email : channel.id]

  # Log-based metric types, for Monitoring filters and (PromQL) queries.
  log_metric_type = {
    messages_in       = "logging.googleapis.com/user/${google_logging_metric.messages_in.name}"
    turns             = "logging.googleapis.com/user/${google_logging_metric.turns.name}"
    handoffs          = "logging.googleapis.com/user/${google_logging_metric.handoffs.name}"
    turn_latency      = "logging.googleapis.com/user/${google_logging_metric.turn_latency.name}"
    outbound_failures = "logging.googleapis.com/user/${google_logging_metric.outbound_failures.name}"
    dead_letters      = "logging.googleapis.com/user/${google_logging_metric.dead_letters.name}"
    llm_calls         = "logging.googleapis.com/user/${google_logging_metric.llm_calls.name}"
    ticket_status     = "logging.googleapis.com/user/${google_logging_metric.ticket_status.name}"
  }
  # PromQL names of distribution metrics: the first "/" becomes ":", other specials "_", and
  # a distribution is a histogram (_sum, _count, _bucket).
  promql_llm_cost_usd      = "logging_googleapis_com:user_${replace(google_logging_metric.llm_cost_usd.name, "/", "_")}_sum"
  promql_llm_input_tokens  = "logging_googleapis_com:user_${replace(google_logging_metric.llm_input_tokens.name, "/", "_")}_sum"
  promql_llm_output_tokens = "logging_googleapis_com:user_${replace(google_logging_metric.llm_output_tokens.name, "/", "_")}_sum"

  runbook = "Runbook: docs/operations.md in the Atende repository."
}

# --- Where alerts go -------------------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_email_addresses)

  project      = var.project_id
  display_name = "Atende alerts (${each.value})"
  type         = "email"
  labels = {
    email_address = each.value
  }

  depends_on = [google_project_service.enabled]
}

# --- A dead letter appears -------------------------------------------------------------------

resource "google_monitoring_alert_policy" "dead_letter" {
  project      = var.project_id
  display_name = "Atende: dead letter recorded"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "Any dead letter in 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"${local.log_metric_type.dead_letters}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.source"]
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.alert_notification_channels
  alert_strategy {
    auto_close = "3600s"
  }
  documentation {
    subject   = "Atende: a message was dead-lettered"
    mime_type = "text/markdown"
    content   = <<-EOT
      A message could not be processed and was parked on topic `dead-letter`; the `dead_letter`
      function stored it, with its reason and source, in the Firestore collection
      `dead_letters`. Nothing is lost, but a customer may be waiting.

      Read it, fix the cause, and replay it: docs/operations.md, "Dead letters".
      ${local.runbook}
    EOT
  }
}

# --- Error rate of each function -------------------------------------------------------------

# A Pub/Sub-driven function answers 5xx when it raises, which makes Pub/Sub redeliver; a
# sustained ratio means messages are piling up toward the dead-letter topic.
resource "google_monitoring_alert_policy" "function_error_rate" {
  for_each = local.function_services

  project      = var.project_id
  display_name = "Atende: ${each.value} 5xx ratio above ${var.alert_error_ratio * 100}%"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "${each.value}: 5xx / all requests over 10 minutes"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${each.value}\" AND metric.labels.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${each.value}\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_error_ratio
      duration           = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.alert_notification_channels
  alert_strategy {
    auto_close = "3600s"
  }
  documentation {
    subject   = "Atende: ${each.value} is failing requests"
    mime_type = "text/markdown"
    content   = <<-EOT
      More than ${var.alert_error_ratio * 100}% of the requests to the `${each.value}` function
      ended in 5xx for 10 minutes. Look at its ERROR lines in Logs Explorer
      (`resource.labels.service_name="${each.value}" severity>=ERROR`).
      ${local.runbook}
    EOT
  }
}

# --- Webhook latency -------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "webhook_latency" {
  project      = var.project_id
  display_name = "Atende: webhook p99 latency above ${var.webhook_p99_latency_threshold_ms} ms"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "webhook p99 request latency over 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_latencies\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_services["webhook"]}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.webhook_p99_latency_threshold_ms
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.alert_notification_channels
  alert_strategy {
    auto_close = "3600s"
  }
  documentation {
    subject   = "Atende: the WhatsApp webhook is slow"
    mime_type = "text/markdown"
    content   = <<-EOT
      The webhook's 99th percentile latency stayed above ${var.webhook_p99_latency_threshold_ms} ms
      for 10 minutes. Meta retries deliveries it considers slow or failed, so customers'
      messages arrive late and more than once (intake deduplicates them). Usual causes: cold
      starts (raise `min_instances` for webhook), max instances reached, slow Pub/Sub publish.
      ${local.runbook}
    EOT
  }
}

# --- LLM cost per day ------------------------------------------------------------------------

# The cost is a distribution (one value per call). Threshold conditions cannot add up the
# values of a distribution, PromQL can: its _sum series is the running total.
resource "google_monitoring_alert_policy" "llm_daily_cost" {
  project      = var.project_id
  display_name = "Atende: LLM cost over ${var.llm_daily_budget_usd} USD in 24 hours"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "LLM list-price cost, rolling 24 hours"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.promql_llm_cost_usd}{monitored_resource=\"cloud_run_revision\"}[1d])) > ${var.llm_daily_budget_usd}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }

  notification_channels = local.alert_notification_channels
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    subject   = "Atende: LLM spend over the daily budget"
    mime_type = "text/markdown"
    content   = <<-EOT
      Language-model calls cost more than ${var.llm_daily_budget_usd} USD (list price) in the last
      24 hours. Check the dashboard's LLM charts for the model and the hour, and the turns
      with the most tokens (docs/cost.md, "Measuring it").
      ${local.runbook}
    EOT
  }
}

# --- Messages stuck on a subscription --------------------------------------------------------

# Covers what the dead-letter alert cannot see: a function that keeps failing before its
# messages run out of attempts, and a dead_letter function that cannot record.
resource "google_monitoring_alert_policy" "pubsub_backlog" {
  project      = var.project_id
  display_name = "Atende: message waiting more than ${var.pubsub_oldest_unacked_alert_seconds} s"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "Oldest unacknowledged message on a push subscription"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=one_of(${local.push_subs_one_of})"
      comparison      = "COMPARISON_GT"
      threshold_value = var.pubsub_oldest_unacked_alert_seconds
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.subscription_id"]
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.alert_notification_channels
  alert_strategy {
    auto_close = "3600s"
  }
  documentation {
    subject   = "Atende: messages are stuck on a subscription"
    mime_type = "text/markdown"
    content   = <<-EOT
      A push subscription has held a message for more than
      ${var.pubsub_oldest_unacked_alert_seconds} seconds. Its function keeps failing it (see the
      5xx alert and the function's ERROR lines); with ordering on, the customer's later messages
      wait behind it. On `dead-letter-recorder` it means dead letters are not being recorded.
      ${local.runbook}
    EOT
  }
}

# --- Dashboard -------------------------------------------------------------------------------

locals {
  # One xyChart per entry: a title and its data sets (Monitoring filters or PromQL).
  dashboard_charts = [
    {
      title = "Messages in (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.messages_in}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
        } }
      }]
    },
    {
      title = "Turns by route (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.turns}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.route"] }
        } }
      }]
    },
    {
      title = "Handoff share of turns (per hour)"
      sets = [{
        plotType = "LINE"
        timeSeriesQuery = { timeSeriesFilterRatio = {
          numerator = {
            filter      = "metric.type=\"${local.log_metric_type.handoffs}\" resource.type=\"cloud_run_revision\""
            aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
          }
          denominator = {
            filter      = "metric.type=\"${local.log_metric_type.turns}\" resource.type=\"cloud_run_revision\""
            aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
          }
        } }
      }]
    },
    {
      title = "AI finalization rate F / (F + TA + TAF) (per hour)"
      sets = [{
        plotType = "LINE"
        timeSeriesQuery = { timeSeriesFilterRatio = {
          numerator = {
            filter      = "metric.type=\"${local.log_metric_type.ticket_status}\" resource.type=\"cloud_run_revision\" metric.labels.status=\"F\""
            aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
          }
          denominator = {
            filter      = "metric.type=\"${local.log_metric_type.ticket_status}\" resource.type=\"cloud_run_revision\" metric.labels.status=one_of(\"F\", \"TA\", \"TAF\")"
            aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
          }
        } }
      }]
    },
    {
      title = "Turn latency p50 / p95 (ms)"
      sets = [for p in ["50", "95"] : {
        plotType       = "LINE"
        legendTemplate = "p${p}"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.turn_latency}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}" }
        } }
      }]
    },
    {
      title = "Webhook latency p50 / p99 (ms)"
      sets = [for p in ["50", "99"] : {
        plotType       = "LINE"
        legendTemplate = "p${p}"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"run.googleapis.com/request_latencies\" resource.type=\"cloud_run_revision\" resource.labels.service_name=\"${local.function_services["webhook"]}\""
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}" }
        } }
      }]
    },
    {
      title = "5xx responses by function (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"run.googleapis.com/request_count\" resource.type=\"cloud_run_revision\" metric.labels.response_code_class=\"5xx\" resource.labels.service_name=one_of(${local.services_one_of})"
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name"] }
        } }
      }]
    },
    {
      title = "Outbound failures by HTTP status (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.outbound_failures}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.http_status"] }
        } }
      }]
    },
    {
      title = "Dead letters by source (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.dead_letters}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.source"] }
        } }
      }]
    },
    {
      title = "Oldest unacknowledged message by subscription (s)"
      sets = [{
        plotType = "LINE"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" resource.type=\"pubsub_subscription\" resource.labels.subscription_id=one_of(${local.push_subs_one_of})"
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX", groupByFields = ["resource.label.subscription_id"] }
        } }
      }]
    },
    {
      title = "LLM calls by outcome and fallback (per 5 min)"
      sets = [{
        plotType = "STACKED_BAR"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"${local.log_metric_type.llm_calls}\" resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.outcome", "metric.label.fallback"] }
        } }
      }]
    },
    {
      title = "LLM cost per hour by model (USD, list price)"
      sets = [{
        plotType        = "STACKED_BAR"
        timeSeriesQuery = { prometheusQuery = "sum by (model) (increase(${local.promql_llm_cost_usd}{monitored_resource=\"cloud_run_revision\"}[1h]))" }
      }]
    },
    {
      title = "LLM tokens per hour"
      sets = [for side, metric in { input = local.promql_llm_input_tokens, output = local.promql_llm_output_tokens } : {
        plotType        = "LINE"
        legendTemplate  = side
        timeSeriesQuery = { prometheusQuery = "sum(increase(${metric}{monitored_resource=\"cloud_run_revision\"}[1h]))" }
      }]
    },
  ]

  dashboard_columns = 3
  dashboard_layout = {
    displayName = "Atende (${var.environment})"
    mosaicLayout = {
      columns = 12
      tiles = concat(
        [{
          xPos   = 0
          yPos   = 0
          width  = 12
          height = 2
          widget = {
            title = "About"
            text = {
              format  = "MARKDOWN"
              content = "WhatsApp pipeline of environment **${var.environment}**: webhook → intake → agent_turn → outbound; dead letters go to the dead_letter function and Firestore `dead_letters`. LLM charts count `event: llm_call` lines (one per model call); AI finalization counts `event: ticket_status`. ${local.runbook}"
            }
          }
        }],
        [for index, chart in local.dashboard_charts : {
          xPos   = (index % local.dashboard_columns) * 4
          yPos   = 2 + floor(index / local.dashboard_columns) * 4
          width  = 4
          height = 4
          widget = {
            title   = chart.title
            xyChart = { dataSets = chart.sets }
          }
        }],
      )
    }
  }
}

resource "google_monitoring_dashboard" "atende" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard_layout)

  depends_on = [google_project_service.enabled]
}

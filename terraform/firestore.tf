# The (default) database in Native mode. If the project already has one, import it instead
# of creating it (README.md, "Bootstrap"). Terraform never deletes it: the provider abandons
# the database on destroy, and delete protection refuses deletion anywhere else.
resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"

  depends_on = [google_project_service.enabled]
}

# TTL policies: Firestore deletes a document some time after its TTL field has passed.
# Timestamp fields nothing queries are exempt from single-field indexing, as Google advises
# for TTL fields (monotonically increasing values hotspot indexes). kb_entries.expires_at
# keeps its index: `atende kb purge-expired` queries expires_at <= now.
locals {
  ttl_fields = {
    # agent_turn conversation leases
    leases = { field = "expire_at", indexed = false }
    # knowledge-base entries with an expiry date (shared/adapters/firestore_kb.py)
    kb_entries = { field = "expires_at", indexed = true }
    # LangGraph checkpoints (shared/adapters/firestore_checkpoint.py): one parent document per
    # conversation (the CHECKPOINTS_COLLECTION setting's default name) and the two
    # subcollections under it. TTL does not delete subcollections, so each level has its own.
    agent_checkpoints = { field = "expires_at", indexed = false }
    checkpoints       = { field = "expires_at", indexed = false }
    checkpoint_writes = { field = "expires_at", indexed = false }
  }

  # Serialized LangGraph state: opaque bytes nothing filters or sorts on, up to ~900 KB, whose
  # single-field indexes would only cost storage.
  unindexed_fields = {
    "checkpoints/checkpoint"  = { collection = "checkpoints", field = "checkpoint" }
    "checkpoints/metadata"    = { collection = "checkpoints", field = "metadata" }
    "checkpoint_writes/value" = { collection = "checkpoint_writes", field = "value" }
  }
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.key
  field      = each.value.field

  ttl_config {}

  # An empty index_config removes the field's single-field indexes; none keeps the defaults.
  dynamic "index_config" {
    for_each = each.value.indexed ? [] : [each.key]
    content {}
  }
}

resource "google_firestore_field" "unindexed" {
  for_each = local.unindexed_fields

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value.collection
  field      = each.value.field

  # An empty index_config removes the field's single-field indexes.
  index_config {}
}

# Knowledge-base vector search: nearest neighbours on a 512-dimension embedding, filtered
# first by namespace (one knowledge base per assistant or line of business).
resource "google_firestore_index" "kb_entries_embedding" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "kb_entries"

  fields {
    field_path = "namespace"
    order      = "ASCENDING"
  }

  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }

  fields {
    field_path = "embedding"
    vector_config {
      dimension = var.embedding_backend == "vertex" ? 768 : 512
      flat {}
    }
  }
}

# Pending messages of a conversation, oldest first (agent_turn coalescing a burst).
resource "google_firestore_index" "messages_pending" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "messages"

  fields {
    field_path = "conversation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "pending"
    order      = "ASCENDING"
  }

  fields {
    field_path = "timestamp"
    order      = "ASCENDING"
  }
}

# A conversation's answered messages, newest first (agent_turn reading history).
resource "google_firestore_index" "messages_history" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "messages"

  fields {
    field_path = "conversation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "pending"
    order      = "ASCENDING"
  }

  fields {
    field_path = "timestamp"
    order      = "DESCENDING"
  }
}

# A conversation's assistant turns, newest first (agent_turn reading history).
resource "google_firestore_index" "turns_recent" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "turns"

  fields {
    field_path = "conversation_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# The dashboards' aggregation queries on tickets (shared/adapters/firestore_dashboard.py): one
# count or one sum each, equality filters, then a range on opened_at. A sum reads its field
# from the index, so the summed field ends the index. Billing figures are always asked for one
# assistant, so only the status counts have an index without it. The read-time probe (a count
# of the whole collection, limit 1) needs none.
locals {
  tickets_dashboard_indexes = {
    # SAC/SAF tickets per day and status: every assistant, then one assistant.
    status           = ["status", "opened_at"]
    assistant_status = ["assistant", "status", "opened_at"]
    # Billing counts of paid, replied and intervened tickets.
    assistant_paid             = ["assistant", "paid", "opened_at"]
    assistant_customer_replied = ["assistant", "customer_replied", "opened_at"]
    assistant_intervened       = ["assistant", "intervened", "opened_at"]
    # Billing sums: AI messages (all and on paid tickets), amounts communicated and recovered.
    assistant_ai_messages         = ["assistant", "opened_at", "ai_messages"]
    assistant_paid_ai_messages    = ["assistant", "paid", "opened_at", "ai_messages"]
    assistant_amount_communicated = ["assistant", "opened_at", "amount_communicated"]
    assistant_amount_recovered    = ["assistant", "opened_at", "amount_recovered"]
  }
}

resource "google_firestore_index" "tickets_dashboard" {
  for_each = local.tickets_dashboard_indexes

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "tickets"

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }
}

# The follow-ups' queries (shared/adapters/firestore_debts.py). A query with an equality filter
# and a range or order on another field needs a composite index; the emulator does not.
locals {
  followup_indexes = {
    # The tick's due trails, most overdue first:
    #   debts WHERE trail_status == "active" AND next_due_at <= now ORDER BY next_due_at
    debts_due = { collection = "debts", fields = ["trail_status", "next_due_at"] }
    # A debtor's debts in one trail status:
    #   debts WHERE phone == P AND trail_status == S
    debts_phone_status = { collection = "debts", fields = ["phone", "trail_status"] }
    # AI-answered tickets idle since the cutoff, to finish them (IDLE_FINISH_HOURS):
    #   tickets WHERE status == "IAR" AND updated_at < cutoff ORDER BY updated_at
    tickets_idle = { collection = "tickets", fields = ["status", "updated_at"] }
    # (Stale leases, leases WHERE expires_at < now ORDER BY expires_at, use the automatic
    # single-field index of expires_at; the TTL field expire_at stays unindexed.)
  }
}

resource "google_firestore_index" "followups" {
  for_each = local.followup_indexes

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value.collection

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }
}

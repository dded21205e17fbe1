//! Diesel table definitions, matching `migrations/` (what `diesel print-schema` prints).

diesel::table! {
    companies (id) {
        id -> Uuid,
        name -> Text,
        calls_per_second_limit -> Int4,
        call_webhook_url -> Nullable<Text>,
        call_webhook_secret -> Nullable<Text>,
        lms_base_url -> Nullable<Text>,
        lms_api_key -> Nullable<Text>,
        state_rules -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        queued_call_ttl_seconds -> Int4,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        company_id -> Uuid,
        key_hash -> Bytea,
        prefix -> Text,
        label -> Nullable<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        scope -> Text,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (company_id, key) {
        company_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        status -> Nullable<Int2>,
        content_type -> Nullable<Text>,
        body -> Nullable<Bytea>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (company_id, id) {
        id -> Uuid,
        company_id -> Uuid,
        at -> Timestamptz,
        api_key_id -> Nullable<Uuid>,
        operation -> Text,
        entity_type -> Text,
        entity_id -> Text,
    }
}

diesel::table! {
    schedules (company_id, id) {
        id -> Uuid,
        company_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        task_type -> Text,
        paused -> Bool,
        time_zone -> Nullable<Text>,
        calling_hours_start -> Text,
        calling_hours_end -> Text,
        use_do_not_call -> Bool,
        cadence -> Jsonb,
        max_attempts_per_7_days -> Int4,
        sortable_order -> Nullable<Float8>,
        lead_duplicate_timeframe_seconds -> Nullable<Int4>,
        quiet_period_after_conversation -> Bool,
        calls_count -> Int4,
        last_call_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        required_customer_fields -> Array<Text>,
        purpose -> Text,
    }
}

diesel::table! {
    customers (company_id, id) {
        id -> Int8,
        company_id -> Uuid,
        external_id -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        birthday -> Nullable<Date>,
        ssn_last_four -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        timezone -> Nullable<Text>,
        task_type -> Nullable<Text>,
        street_address1 -> Nullable<Text>,
        street_address2 -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        zip_code -> Nullable<Text>,
        do_not_call -> Bool,
        is_test -> Bool,
        external_metadata -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        timezone_inferred -> Bool,
        contact_hold_reason -> Nullable<Text>,
        contact_hold_since -> Nullable<Timestamptz>,
        contact_hold_note -> Nullable<Text>,
        phone_line_type -> Nullable<Text>,
        inconvenient_times -> Nullable<Jsonb>,
        picture_url -> Nullable<Text>,
    }
}

diesel::table! {
    loans (company_id, id) {
        id -> Int8,
        company_id -> Uuid,
        customer_id -> Int8,
        loan_id -> Text,
        amount -> Nullable<Float8>,
        installment_amount -> Nullable<Float8>,
        period_months -> Nullable<Int4>,
        current_installment -> Nullable<Int4>,
        due_date -> Nullable<Date>,
        payment_status -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tasks (company_id, id) {
        id -> Uuid,
        company_id -> Uuid,
        customer_id -> Int8,
        schedule_id -> Uuid,
        task_type -> Text,
        status -> Text,
        attempt -> Int4,
        scheduled_for -> Timestamptz,
        time_zone -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    calls (company_id, id) {
        id -> Uuid,
        company_id -> Uuid,
        customer_id -> Nullable<Int8>,
        schedule_id -> Nullable<Uuid>,
        task_id -> Nullable<Uuid>,
        to_number -> Text,
        status -> Text,
        agent_id -> Nullable<Text>,
        disposition -> Nullable<Text>,
        duration_seconds -> Nullable<Int4>,
        data -> Nullable<Jsonb>,
        started_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        webhook_attempts -> Int4,
        webhook_next_at -> Nullable<Timestamptz>,
        webhook_sent_at -> Nullable<Timestamptz>,
        webhook_last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        source -> Text,
        version -> Int4,
        disposition_id -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        handed_off_at -> Nullable<Timestamptz>,
        cancel_reason -> Nullable<Text>,
        outcome -> Nullable<Text>,
        line_type -> Nullable<Text>,
    }
}

diesel::table! {
    suppressed_numbers (company_id, phone_number) {
        company_id -> Uuid,
        phone_number -> Text,
        created_at -> Timestamptz,
        source -> Text,
    }
}

diesel::table! {
    consents (company_id, id) {
        id -> Int8,
        company_id -> Uuid,
        phone_number -> Text,
        #[sql_name = "type"]
        consent_type -> Text,
        source -> Text,
        evidence -> Nullable<Text>,
        obtained_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    events (company_id, id) {
        id -> Int8,
        tx_id -> Int8,
        company_id -> Uuid,
        kind -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        seq -> Int8,
    }
}

diesel::table! {
    jobs (company_id, id) {
        id -> Int8,
        company_id -> Uuid,
        kind -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        run_after -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        total -> Int4,
        done -> Int4,
    }
}

diesel::joinable!(api_keys -> companies (company_id));
diesel::joinable!(schedules -> companies (company_id));
diesel::joinable!(customers -> companies (company_id));
diesel::joinable!(events -> companies (company_id));

diesel::allow_tables_to_appear_in_same_query!(
    companies,
    api_keys,
    schedules,
    customers,
    loans,
    tasks,
    calls,
    suppressed_numbers,
    events,
    jobs,
    consents,
    idempotency_keys,
    audit_log,
);

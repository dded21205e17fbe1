//! A customer as the REST doors answer it.

use serde_json::{json, Map, Value};

use super::Casing;
use crate::domain::keys::{KeyScope, PII_FIELDS};
use crate::store::consents::ConsentRow;
use crate::store::customers::CustomerRow;

/// A customer as the vendors' APIs show one, in the door's casing (the create and sync vendor
/// camelCase, the phone-identity vendor snake_case), with what callsync adds: the line type,
/// the consumer's inconvenient times, a contact hold and the consent on file. Nested objects
/// follow the casing; `externalMetadata` keeps the integration's own keys.
pub(crate) fn customer_json(
    row: &CustomerRow,
    consent: Option<&ConsentRow>,
    casing: Casing,
    scope: KeyScope,
) -> Map<String, Value> {
    let value = json!({
        "id": row.external_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "birthday": row.birthday.map(|d| d.to_string()),
        "ssn_last_four": row.ssn_last_four,
        "phone_number": row.phone_number,
        "timezone": row.timezone,
        "timezone_inferred": row.timezone_inferred,
        "task_type": row.task_type,
        "street_address1": row.street_address1,
        "street_address2": row.street_address2,
        "city": row.city,
        "state": row.state,
        "zip_code": row.zip_code,
        "do_not_call": row.do_not_call,
        "is_test": row.is_test,
        "external_metadata": row.external_metadata,
        "picture_url": row.picture_url,
        "phone_line_type": row.line_type().unwrap_or_default().code(),
        "inconvenient_times": row.inconvenient_times(),
        "contact_hold": row.contact_hold_reason.as_ref().map(|reason| json!({
            "reason": reason,
            "since": row.contact_hold_since.map(|t| t.to_rfc3339()),
            "note": row.contact_hold_note,
        })),
        "consent": consent.map(|c| json!({
            "phone_number": c.phone_number,
            "type": c.consent_type,
            "source": c.source,
            "evidence": c.evidence,
            "obtained_at": c.obtained_at.to_rfc3339(),
            "revoked_at": c.revoked_at.map(|t| t.to_rfc3339()),
        })),
        "created_at": row.created_at.to_rfc3339(),
        "updated_at": row.updated_at.to_rfc3339(),
    });
    let Value::Object(mut map) = value else { return Map::new() };
    if !scope.sees_pii() {
        for field in PII_FIELDS {
            map.insert(super::snake_case(field), Value::Null);
        }
    }
    let mut map = casing.keys(map);
    for nested in ["consent", "contact_hold"] {
        if let Some(Value::Object(inner)) = map.remove(&casing.name(nested)) {
            map.insert(casing.name(nested), Value::Object(casing.keys(inner)));
        }
    }
    map
}

//! Company settings validation.

use serde_json::Value;

use super::calling_rules::validate_overrides;
use super::{required_text, Patch, Secret, ValidationError};

/// Settings as received: absent keeps, null clears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanySettingsInput {
    pub name: Patch<String>,
    pub calls_per_second_limit: Patch<i32>,
    pub queued_call_ttl_seconds: Patch<i32>,
    pub call_webhook_url: Patch<String>,
    pub lms_base_url: Patch<String>,
    pub lms_api_key: Patch<Secret>,
    pub state_rules: Patch<Value>,
    pub call_webhook_secret: Patch<Secret>,
}

/// Validated changes to a company's settings. `S` is how the secrets are held: as given
/// ([`Secret`]), then sealed for storing ([`super::StoredSecret`], see [`Self::seal_secrets`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanySettingsPatch<S = Secret> {
    pub name: Option<String>,
    pub calls_per_second_limit: Option<i32>,
    pub queued_call_ttl_seconds: Option<i32>,
    pub call_webhook_url: Patch<String>,
    pub lms_base_url: Patch<String>,
    pub lms_api_key: Patch<S>,
    /// Signs webhook deliveries; write-only.
    pub call_webhook_secret: Patch<S>,
    /// The normalised overrides of the state rules (`{}` when cleared).
    pub state_rules: Option<Value>,
}

/// The company settings that are secrets: write-only, and stored sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    LmsApiKey,
    CallWebhookSecret,
}

impl SecretField {
    /// The input field's name (what errors name).
    pub fn input_name(self) -> &'static str {
        match self {
            SecretField::LmsApiKey => "lmsApiKey",
            SecretField::CallWebhookSecret => "callWebhookSecret",
        }
    }

    /// The column's name: stable, so a sealed value stays bound to it if the API renames.
    pub fn column(self) -> &'static str {
        match self {
            SecretField::LmsApiKey => "lms_api_key",
            SecretField::CallWebhookSecret => "call_webhook_secret",
        }
    }
}

impl CompanySettingsPatch<Secret> {
    /// The same changes with each secret that is set replaced by `seal(field, secret)`; the
    /// first refusal is returned.
    pub fn seal_secrets<S, E>(
        self,
        mut seal: impl FnMut(SecretField, Secret) -> Result<S, E>,
    ) -> Result<CompanySettingsPatch<S>, E> {
        let mut sealed = |field, patch: Patch<Secret>| match patch {
            Patch::Keep => Ok(Patch::Keep),
            Patch::Clear => Ok(Patch::Clear),
            Patch::Set(secret) => seal(field, secret).map(Patch::Set),
        };
        Ok(CompanySettingsPatch {
            lms_api_key: sealed(SecretField::LmsApiKey, self.lms_api_key)?,
            call_webhook_secret: sealed(SecretField::CallWebhookSecret, self.call_webhook_secret)?,
            name: self.name,
            calls_per_second_limit: self.calls_per_second_limit,
            queued_call_ttl_seconds: self.queued_call_ttl_seconds,
            call_webhook_url: self.call_webhook_url,
            lms_base_url: self.lms_base_url,
            state_rules: self.state_rules,
        })
    }
}

pub const MAX_CALLS_PER_SECOND: i32 = 1000;
/// How long a QUEUED call may wait for a provider: the bounds of `queuedCallTtlSeconds`.
pub const QUEUED_CALL_TTL_SECONDS: std::ops::RangeInclusive<i32> = 5..=3600;

/// Checks raw settings input; `name` and `callsPerSecondLimit` cannot be cleared.
/// `allow_private_network` lifts the rule that outbound URLs reach public addresses only.
pub fn validate_settings(
    input: CompanySettingsInput,
    allow_private_network: bool,
) -> Result<CompanySettingsPatch, ValidationError> {
    let CompanySettingsInput {
        name,
        calls_per_second_limit,
        queued_call_ttl_seconds,
        call_webhook_url,
        lms_base_url,
        lms_api_key,
        state_rules,
        call_webhook_secret,
    } = input;
    let queued_call_ttl_seconds = match queued_call_ttl_seconds {
        Patch::Keep => None,
        Patch::Set(n) if QUEUED_CALL_TTL_SECONDS.contains(&n) => Some(n),
        _ => {
            let (low, high) = (QUEUED_CALL_TTL_SECONDS.start(), QUEUED_CALL_TTL_SECONDS.end());
            let message = format!("queuedCallTtlSeconds must be between {low} and {high}");
            return Err(ValidationError::new("queuedCallTtlSeconds", message));
        }
    };
    let name = match name {
        Patch::Keep => None,
        Patch::Clear => return Err(ValidationError::new("name", "name cannot be null")),
        Patch::Set(n) => Some(required_text("name", &n, 200)?),
    };
    let calls_per_second_limit = match calls_per_second_limit {
        Patch::Keep => None,
        Patch::Clear => {
            return Err(ValidationError::new("callsPerSecondLimit", "callsPerSecondLimit cannot be null"))
        }
        Patch::Set(n) if (1..=MAX_CALLS_PER_SECOND).contains(&n) => Some(n),
        Patch::Set(_) => {
            return Err(ValidationError::new(
                "callsPerSecondLimit",
                format!("callsPerSecondLimit must be between 1 and {MAX_CALLS_PER_SECOND}"),
            ))
        }
    };
    let lms_api_key = match lms_api_key {
        Patch::Set(key) if key.expose().trim().is_empty() => Patch::Clear,
        Patch::Set(key) if key.expose().len() > 4096 => {
            return Err(ValidationError::new("lmsApiKey", "lmsApiKey must be at most 4096 characters"))
        }
        other => other,
    };
    let call_webhook_secret = match call_webhook_secret {
        Patch::Set(secret) if !(16..=256).contains(&secret.expose().len()) => {
            return Err(ValidationError::new(
                "callWebhookSecret",
                "callWebhookSecret must be 16 to 256 characters",
            ))
        }
        other => other,
    };
    let state_rules = match state_rules {
        Patch::Keep => None,
        Patch::Clear => Some(Value::Object(Default::default())),
        Patch::Set(v) => Some(serde_json::to_value(validate_overrides(&v)?).unwrap_or_default()),
    };
    Ok(CompanySettingsPatch {
        state_rules,
        name,
        calls_per_second_limit,
        queued_call_ttl_seconds,
        call_webhook_url: http_url("callWebhookUrl", call_webhook_url, allow_private_network)?,
        lms_base_url: http_url("lmsBaseUrl", lms_base_url, allow_private_network)?,
        lms_api_key,
        call_webhook_secret,
    })
}

/// An outbound URL (see [`super::network::outbound_url`]); an empty string clears like null.
fn http_url(
    field: &str,
    value: Patch<String>,
    allow_private: bool,
) -> Result<Patch<String>, ValidationError> {
    match value {
        Patch::Set(raw) if raw.trim().is_empty() => Ok(Patch::Clear),
        Patch::Set(raw) => Ok(Patch::Set(super::network::outbound_url(field, &raw, allow_private)?)),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let input = CompanySettingsInput {
            lms_api_key: Patch::Set(Secret::new("lms-key-123")),
            call_webhook_secret: Patch::Set(Secret::new("0123456789abcdef-sig")),
            ..Default::default()
        };
        let printed = format!("{input:?} {:?}", validate_settings(input.clone(), false).unwrap());
        assert!(!printed.contains("lms-key-123") && !printed.contains("0123456789abcdef-sig"), "{printed}");
    }

    #[test]
    fn sealing_touches_only_the_secrets_that_are_set_and_names_the_first_refused() {
        let input = CompanySettingsInput {
            name: Patch::Set("Acme".into()),
            lms_api_key: Patch::Set(Secret::new("lms-key-123")),
            call_webhook_secret: Patch::Clear,
            ..Default::default()
        };
        let patch = validate_settings(input, false).unwrap();
        let sealed =
            patch.clone().seal_secrets(|field, s| Ok::<_, ()>(format!("{}={}", field.column(), s.expose())));
        let sealed = sealed.unwrap();
        assert_eq!(sealed.lms_api_key, Patch::Set("lms_api_key=lms-key-123".to_string()));
        assert_eq!((sealed.call_webhook_secret, sealed.name), (Patch::Clear, Some("Acme".to_string())));
        let refused = patch.seal_secrets(|field, _| Err::<String, _>(field.input_name()));
        assert_eq!(refused.unwrap_err(), "lmsApiKey");
    }

    fn only_url(field: &str, v: &str) -> Result<CompanySettingsPatch, ValidationError> {
        let set = Patch::Set(v.to_string());
        match field {
            "callWebhookUrl" => {
                validate_settings(CompanySettingsInput { call_webhook_url: set, ..Default::default() }, true)
            }
            _ => validate_settings(CompanySettingsInput { lms_base_url: set, ..Default::default() }, true),
        }
    }

    #[test]
    fn urls_must_be_http() {
        for field in ["callWebhookUrl", "lmsBaseUrl"] {
            for bad in ["ftp://x.example", "not a url", "/relative", "mailto:a@b.c"] {
                assert_eq!(only_url(field, bad).unwrap_err().field, field, "{bad}");
            }
            assert!(only_url(field, "https://lms.example.com/api").is_ok());
        }
        let p = only_url("lmsBaseUrl", "http://127.0.0.1:9000/").unwrap();
        assert_eq!(p.lms_base_url, Patch::Set("http://127.0.0.1:9000".into()));
    }

    #[test]
    fn limits_and_names() {
        let cps = |n| {
            validate_settings(
                CompanySettingsInput { calls_per_second_limit: Patch::Set(n), ..Default::default() },
                true,
            )
        };
        assert_eq!(cps(0).unwrap_err().field, "callsPerSecondLimit");
        assert_eq!(cps(1001).unwrap_err().field, "callsPerSecondLimit");
        assert_eq!(cps(10).unwrap().calls_per_second_limit, Some(10));
        let name = validate_settings(
            CompanySettingsInput { name: Patch::Set(" ".into()), ..Default::default() },
            true,
        );
        assert_eq!(name.unwrap_err().field, "name");
        let null_name =
            validate_settings(CompanySettingsInput { name: Patch::Clear, ..Default::default() }, true);
        assert_eq!(null_name.unwrap_err().field, "name");
        let rules = |v| {
            validate_settings(CompanySettingsInput { state_rules: Patch::Set(v), ..Default::default() }, true)
        };
        assert_eq!(rules(serde_json::json!({"ZZ": []})).unwrap_err().field, "stateRules");
        assert_eq!(
            rules(serde_json::json!({"ma": []})).unwrap_err().field,
            "stateRules",
            "the law is a floor"
        );
        assert_eq!(
            rules(serde_json::json!({"ny": []})).unwrap().state_rules,
            Some(serde_json::json!({"NY": []}))
        );
    }
}

//! Consent per number: consent(phoneNumber), recordConsent, revokeConsent.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::error::{ApiError, GqlResult};
use super::{db, tenant};
use crate::app::consent::{self as use_case, ConsentGiven};
use crate::app::AppError;
use crate::domain::customer::normalize_phone;
use crate::store::consents::ConsentRow;
use crate::store::StoreError;

/// The kind of consent a number has to be called (TCPA).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ConsentType {
    /// Prior express consent (TCPA 47 CFR 64.1200(a)(1), (a)(3)).
    PriorExpress,
    /// Prior express written consent (47 CFR 64.1200(a)(2), (f)(9)): what telemarketing needs.
    PriorExpressWritten,
}

/// How a consent was obtained.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ConsentSource {
    /// The consumer gave the number (the default for a customer's own number).
    ProvidedByConsumer,
    /// A web form the consumer filled in (keep its certificate URL as evidence).
    WebForm,
    /// Said on a recorded call (keep the recording id as evidence).
    RecordedCall,
    /// A signed agreement, e.g. the loan contract.
    SignedAgreement,
    /// Any other way; say which in evidence.
    Other,
}

impl ConsentType {
    fn code(self) -> &'static str {
        match self {
            ConsentType::PriorExpress => "PRIOR_EXPRESS",
            ConsentType::PriorExpressWritten => "PRIOR_EXPRESS_WRITTEN",
        }
    }
}

impl ConsentSource {
    fn code(self) -> &'static str {
        match self {
            ConsentSource::ProvidedByConsumer => "PROVIDED_BY_CONSUMER",
            ConsentSource::WebForm => "WEB_FORM",
            ConsentSource::RecordedCall => "RECORDED_CALL",
            ConsentSource::SignedAgreement => "SIGNED_AGREEMENT",
            ConsentSource::Other => "OTHER",
        }
    }
}

/// A consent on file for a number.
#[derive(SimpleObject)]
pub struct Consent {
    /// The number, E.164.
    phone_number: String,
    /// PRIOR_EXPRESS or PRIOR_EXPRESS_WRITTEN.
    #[graphql(name = "type")]
    consent_type: ConsentType,
    /// How it was obtained.
    source: ConsentSource,
    /// E.g. a form certificate URL or a recording id.
    evidence: Option<String>,
    /// When the consumer gave it (for the derived default: when the first customer record
    /// with the number was created).
    obtained_at: DateTime<Utc>,
    /// When it was revoked; null while it stands. A revoked consent stays revoked until a new
    /// one is recorded.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ConsentRow> for Consent {
    fn from(row: ConsentRow) -> Self {
        let consent_type = match row.consent_type.as_str() {
            "PRIOR_EXPRESS_WRITTEN" => ConsentType::PriorExpressWritten,
            _ => ConsentType::PriorExpress,
        };
        let source = match row.source.as_str() {
            "WEB_FORM" => ConsentSource::WebForm,
            "RECORDED_CALL" => ConsentSource::RecordedCall,
            "SIGNED_AGREEMENT" => ConsentSource::SignedAgreement,
            "OTHER" => ConsentSource::Other,
            _ => ConsentSource::ProvidedByConsumer,
        };
        Consent {
            phone_number: row.phone_number,
            consent_type,
            source,
            evidence: row.evidence,
            obtained_at: row.obtained_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A consent to record for a number; a bad one is BAD_USER_INPUT naming `consent.type`,
/// `consent.source`, `consent.evidence` or `consent.obtainedAt`.
#[derive(InputObject, Clone)]
pub struct ConsentInput {
    /// PRIOR_EXPRESS, or PRIOR_EXPRESS_WRITTEN (what TELEMARKETING schedules need).
    #[graphql(name = "type")]
    pub consent_type: ConsentType,
    /// How it was obtained.
    pub source: ConsentSource,
    /// At most 2,000 characters.
    pub evidence: Option<String>,
    /// Not in the future.
    pub obtained_at: DateTime<Utc>,
}

impl ConsentInput {
    pub fn given(&self) -> ConsentGiven {
        ConsentGiven {
            consent_type: self.consent_type.code(),
            source: self.source.code(),
            evidence: self.evidence.clone(),
            obtained_at: self.obtained_at,
        }
    }
}

fn number(raw: &str) -> async_graphql::Result<String> {
    normalize_phone("phoneNumber", raw).map_err(AppError::from).map_err(ApiError::from).gql()
}

/// The consent on file for the customer's number (None without a number).
pub async fn of_customer(
    ctx: &Context<'_>,
    company_id: uuid::Uuid,
    phone: Option<String>,
) -> async_graphql::Result<Option<Consent>> {
    let Some(phone) = phone else { return Ok(None) };
    let row = db(ctx).read(move |conn| use_case::on_file(conn, company_id, &phone)).await.gql()?;
    Ok(row.map(Consent::from))
}

#[derive(Default)]
pub struct ConsentQuery;

#[Object]
impl ConsentQuery {
    /// The consent on file for the number: its strongest unrevoked one (written over express),
    /// else the latest revoked one; a customer's own number has PRIOR_EXPRESS from
    /// PROVIDED_BY_CONSUMER by default. Null when there is none.
    async fn consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The number, in any format (read as US without a country code); BAD_USER_INPUT if invalid."
        )]
        phone_number: String,
    ) -> async_graphql::Result<Option<Consent>> {
        let company_id = tenant(ctx)?;
        let phone = number(&phone_number)?;
        let row = db(ctx).read(move |conn| use_case::on_file(conn, company_id, &phone)).await.gql()?;
        Ok(row.map(Consent::from))
    }
}

#[derive(Default)]
pub struct ConsentMutation;

#[Object]
impl ConsentMutation {
    /// Records a consent for the number, with its evidence; returns the consent now on file.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The number, in any format (read as US without a country code); BAD_USER_INPUT if invalid."
        )]
        phone_number: String,
        #[graphql(desc = "The consent and its evidence; obtainedAt not in the future.")]
        consent: ConsentInput,
    ) -> async_graphql::Result<Consent> {
        let company_id = tenant(ctx)?;
        let phone = number(&phone_number)?;
        let now = super::now(ctx);
        let given = consent.given();
        let row = db(ctx)
            .transaction(move |conn| {
                use_case::record(conn, company_id, &phone, &given, "consent", now)?;
                Ok::<_, AppError>(use_case::on_file(conn, company_id, &phone)?)
            })
            .await
            .gql()?;
        row.map(Consent::from).ok_or(ApiError::NotFound("consent")).gql()
    }

    /// Revokes the number's consent at once: its pending tasks and queued calls are cancelled
    /// (cancelReason NO_CONSENT), with events. `NOT_FOUND` if none is on file.
    async fn revoke_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The number, in any format (read as US without a country code); BAD_USER_INPUT if invalid."
        )]
        phone_number: String,
    ) -> async_graphql::Result<Consent> {
        let company_id = tenant(ctx)?;
        let phone = number(&phone_number)?;
        let now = super::now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::revoke(conn, company_id, &phone, now))
            .await
            .map_err(|e| match e {
                AppError::Store(StoreError::NotFound) => ApiError::NotFound("consent"),
                other => other.into(),
            })
            .gql()?;
        Ok(Consent::from(row))
    }
}

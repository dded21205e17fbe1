//! LMS enrichment (`sync: true`): what a loan management system's answer adds to a customer
//! input. The request's own fields always win; the LMS only fills what the request omitted.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::customer::CustomerPatch;
use super::{Patch, ValidationError};

/// A loan, from the LMS or inline in the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoanRecord {
    pub loan_id: String,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub installment_amount: Option<f64>,
    #[serde(default)]
    pub period_months: Option<i32>,
    #[serde(default)]
    pub current_installment: Option<i32>,
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    #[serde(default)]
    pub payment_status: Option<String>,
}

/// Fills the fields `patch` omits from the LMS's customer object (CustomerInput names).
pub fn enrich(patch: &mut CustomerPatch, lms: &Map<String, Value>) {
    fn text(slot: &mut Patch<String>, value: Option<&Value>) {
        if slot.is_keep() {
            if let Some(v) = value.and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }) {
                *slot = Patch::Set(v);
            }
        }
    }
    fn flag(slot: &mut Patch<bool>, value: Option<&Value>) {
        if let (true, Some(b)) = (slot.is_keep(), value.and_then(Value::as_bool)) {
            *slot = Patch::Set(b);
        }
    }
    let get = |k: &str| lms.get(k).filter(|v| !v.is_null());
    text(&mut patch.first_name, get("firstName"));
    text(&mut patch.last_name, get("lastName"));
    text(&mut patch.email, get("email"));
    text(&mut patch.birthday, get("birthday"));
    text(&mut patch.ssn_last_four, get("ssnLastFour"));
    text(&mut patch.phone_number, get("phoneNumber"));
    text(&mut patch.timezone, get("timezone"));
    text(&mut patch.task_type, get("taskType"));
    text(&mut patch.street_address1, get("streetAddress1"));
    text(&mut patch.street_address2, get("streetAddress2"));
    text(&mut patch.city, get("city"));
    text(&mut patch.state, get("state"));
    text(&mut patch.zip_code, get("zipCode"));
    flag(&mut patch.do_not_call, get("doNotCall"));
    flag(&mut patch.is_test, get("isTest").or_else(|| get("test")));
    if patch.external_metadata.is_keep() {
        if let Some(meta @ Value::Object(_)) = get("externalMetadata") {
            patch.external_metadata = Patch::Set(meta.clone());
        }
    }
}

/// The LMS's loans array, each checked.
pub fn parse_loans(value: &Value) -> Result<Vec<LoanRecord>, String> {
    let loans: Vec<LoanRecord> =
        serde_json::from_value(value.clone()).map_err(|e| format!("unexpected loans: {e}"))?;
    Ok(loans.into_iter().filter(|l| !l.loan_id.trim().is_empty()).collect())
}

/// The loans to store: the LMS's (kept to `loan_ids`, plus `loan_id`, when given), with inline
/// loans replacing any LMS loan of the same id.
pub fn select_loans(
    lms: Vec<LoanRecord>,
    inline: Vec<LoanRecord>,
    loan_ids: Option<&[String]>,
    loan_id: Option<&str>,
) -> Vec<LoanRecord> {
    let wanted = |id: &str| match (loan_ids, loan_id) {
        (None, None) => true,
        (ids, one) => ids.is_some_and(|ids| ids.iter().any(|x| x == id)) || one == Some(id),
    };
    let mut out: Vec<LoanRecord> = lms
        .into_iter()
        .filter(|l| wanted(&l.loan_id) && !inline.iter().any(|i| i.loan_id == l.loan_id))
        .collect();
    out.extend(inline);
    out
}

/// A loan as a door read it (GraphQL's `LoanInput`, a REST body's `loans[i]`): checked into
/// a [`LoanRecord`] by [`LoanInput::record`], the one place its rules live.
#[derive(Debug, Clone, Default)]
pub struct LoanInput {
    pub loan_id: Option<String>,
    pub amount: Option<f64>,
    pub installment_amount: Option<f64>,
    pub period_months: Option<i32>,
    pub current_installment: Option<i32>,
    /// `YYYY-MM-DD`.
    pub due_date: Option<String>,
    pub payment_status: Option<String>,
}

impl LoanInput {
    /// The loan, its errors naming `at` (`loans[0]`) and its fields (`loans[0].dueDate`).
    pub fn record(self, at: &str) -> Result<LoanRecord, ValidationError> {
        let loan_id = self
            .loan_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| ValidationError::new(format!("{at}.loanId"), "loanId is required"))?;
        let due_date = self.due_date.map(|d| parse_due_date(&format!("{at}.dueDate"), &d)).transpose()?;
        let loan = LoanRecord {
            loan_id,
            amount: self.amount,
            installment_amount: self.installment_amount,
            period_months: self.period_months,
            current_installment: self.current_installment,
            due_date,
            payment_status: self.payment_status,
        };
        validate_loan(&loan).map_err(|e| ValidationError::new(at, e.message))?;
        Ok(loan)
    }
}

/// A loan's due date, `YYYY-MM-DD`.
pub fn parse_due_date(field: &str, text: &str) -> Result<chrono::NaiveDate, ValidationError> {
    super::customer::parse_date(text.trim())
        .ok_or_else(|| ValidationError::new(field, format!("{field} must be a date as YYYY-MM-DD")))
}

/// Checks an inline loan.
pub fn validate_loan(loan: &LoanRecord) -> Result<(), ValidationError> {
    if loan.loan_id.trim().is_empty() || loan.loan_id.len() > 255 {
        return Err(ValidationError::new("loans", "each loan needs a loanId of 1 to 255 characters"));
    }
    let negative = |v: Option<f64>| v.is_some_and(|x| !x.is_finite() || x < 0.0);
    if negative(loan.amount) || negative(loan.installment_amount) {
        return Err(ValidationError::new("loans", "loan amounts must be zero or more"));
    }
    if loan.period_months.is_some_and(|m| m < 0) || loan.current_installment.is_some_and(|m| m < 0) {
        return Err(ValidationError::new("loans", "loan periods and installments must be zero or more"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_wins_and_the_lms_fills_the_rest() {
        let mut patch = CustomerPatch {
            external_id: "c".into(),
            first_name: Patch::Set("Request".into()),
            phone_number: Patch::Clear,
            ..Default::default()
        };
        let lms = json!({"firstName": "Lms", "lastName": "Smith", "phoneNumber": "+12125550100", "doNotCall": true,
                         "zipCode": 10001, "externalMetadata": {"score": 3}, "email": null});
        enrich(&mut patch, lms.as_object().unwrap());
        assert_eq!(patch.first_name, Patch::Set("Request".into()));
        assert_eq!(patch.last_name, Patch::Set("Smith".into()));
        assert_eq!(patch.phone_number, Patch::Clear, "an explicit null is the request's too");
        assert_eq!(patch.do_not_call, Patch::Set(true));
        assert_eq!(patch.zip_code, Patch::Set("10001".into()));
        assert_eq!(patch.email, Patch::Keep);
        assert_eq!(patch.external_metadata, Patch::Set(json!({"score": 3})));
    }

    fn loan(id: &str, amount: f64) -> LoanRecord {
        LoanRecord {
            loan_id: id.into(),
            amount: Some(amount),
            installment_amount: None,
            period_months: None,
            current_installment: None,
            due_date: None,
            payment_status: None,
        }
    }

    #[test]
    fn loans_are_filtered_and_inline_ones_win() {
        let lms = vec![loan("L1", 1.0), loan("L2", 2.0), loan("L3", 3.0)];
        let ids = |v: &[LoanRecord]| v.iter().map(|l| l.loan_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&select_loans(lms.clone(), vec![], None, None)), ["L1", "L2", "L3"]);
        assert_eq!(ids(&select_loans(lms.clone(), vec![], Some(&["L2".into()]), None)), ["L2"]);
        assert_eq!(ids(&select_loans(lms.clone(), vec![], Some(&["L2".into()]), Some("L3"))), ["L2", "L3"]);
        let merged = select_loans(lms, vec![loan("L1", 9.0)], None, None);
        assert_eq!(ids(&merged), ["L2", "L3", "L1"]);
        assert_eq!(merged[2].amount, Some(9.0));
    }
}

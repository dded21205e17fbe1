//! The customer fields a campaign (a schedule) may require: their input names, their stored
//! codes, and whether a record or a patch has them.

use super::customer::{CustomerPatch, CustomerRecord};
use super::Patch;

/// A field a campaign (a schedule) may require of its customers (`CustomerField` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerField {
    FirstName,
    LastName,
    Email,
    Birthday,
    SsnLastFour,
    PhoneNumber,
    Timezone,
    StreetAddress1,
    City,
    State,
    ZipCode,
}

impl CustomerField {
    pub const ALL: [CustomerField; 11] = [
        CustomerField::FirstName,
        CustomerField::LastName,
        CustomerField::Email,
        CustomerField::Birthday,
        CustomerField::SsnLastFour,
        CustomerField::PhoneNumber,
        CustomerField::Timezone,
        CustomerField::StreetAddress1,
        CustomerField::City,
        CustomerField::State,
        CustomerField::ZipCode,
    ];

    /// A schedule's `requiredCustomerFields` when none are given: what createCustomer has always
    /// required (every field but ssnLastFour).
    pub fn default_required() -> Vec<CustomerField> {
        CustomerField::ALL.into_iter().filter(|f| *f != CustomerField::SsnLastFour).collect()
    }

    /// The input field's name (`firstName`): what a validation error names.
    pub fn input_name(self) -> &'static str {
        match self {
            CustomerField::FirstName => "firstName",
            CustomerField::LastName => "lastName",
            CustomerField::Email => "email",
            CustomerField::Birthday => "birthday",
            CustomerField::SsnLastFour => "ssnLastFour",
            CustomerField::PhoneNumber => "phoneNumber",
            CustomerField::Timezone => "timezone",
            CustomerField::StreetAddress1 => "streetAddress1",
            CustomerField::City => "city",
            CustomerField::State => "state",
            CustomerField::ZipCode => "zipCode",
        }
    }

    /// The enum value's name (`FIRST_NAME`), as stored.
    pub fn code(self) -> &'static str {
        match self {
            CustomerField::FirstName => "FIRST_NAME",
            CustomerField::LastName => "LAST_NAME",
            CustomerField::Email => "EMAIL",
            CustomerField::Birthday => "BIRTHDAY",
            CustomerField::SsnLastFour => "SSN_LAST_FOUR",
            CustomerField::PhoneNumber => "PHONE_NUMBER",
            CustomerField::Timezone => "TIMEZONE",
            CustomerField::StreetAddress1 => "STREET_ADDRESS1",
            CustomerField::City => "CITY",
            CustomerField::State => "STATE",
            CustomerField::ZipCode => "ZIP_CODE",
        }
    }

    pub fn from_code(code: &str) -> Option<CustomerField> {
        CustomerField::ALL.into_iter().find(|f| f.code() == code)
    }

    pub(crate) fn present(self, record: &CustomerRecord) -> bool {
        match self {
            CustomerField::FirstName => record.first_name.is_some(),
            CustomerField::LastName => record.last_name.is_some(),
            CustomerField::Email => record.email.is_some(),
            CustomerField::Birthday => record.birthday.is_some(),
            CustomerField::SsnLastFour => record.ssn_last_four.is_some(),
            CustomerField::PhoneNumber => record.phone_number.is_some(),
            CustomerField::Timezone => record.timezone.is_some(),
            CustomerField::StreetAddress1 => record.street_address1.is_some(),
            CustomerField::City => record.city.is_some(),
            CustomerField::State => record.state.is_some(),
            CustomerField::ZipCode => record.zip_code.is_some(),
        }
    }

    pub(crate) fn patch(self, patch: &CustomerPatch) -> &Patch<String> {
        match self {
            CustomerField::FirstName => &patch.first_name,
            CustomerField::LastName => &patch.last_name,
            CustomerField::Email => &patch.email,
            CustomerField::Birthday => &patch.birthday,
            CustomerField::SsnLastFour => &patch.ssn_last_four,
            CustomerField::PhoneNumber => &patch.phone_number,
            CustomerField::Timezone => &patch.timezone,
            CustomerField::StreetAddress1 => &patch.street_address1,
            CustomerField::City => &patch.city,
            CustomerField::State => &patch.state,
            CustomerField::ZipCode => &patch.zip_code,
        }
    }
}

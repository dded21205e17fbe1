//! Two-letter codes of the US states, DC and the territories (USPS).

pub const CODES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI",
    "WY", // states
    "DC", // federal district
    "AS", "GU", "MP", "PR", "VI", "UM", // territories
];

/// The canonical (upper-case) code for `value`, if it names a state, DC or a territory.
pub fn normalize(value: &str) -> Option<&'static str> {
    let upper = value.trim().to_ascii_uppercase();
    CODES.iter().copied().find(|code| *code == upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_states_dc_and_territories() {
        assert_eq!(normalize("ny"), Some("NY"));
        assert_eq!(normalize(" DC "), Some("DC"));
        assert_eq!(normalize("PR"), Some("PR"));
        assert_eq!(CODES.len(), 57);
    }

    #[test]
    fn rejects_others() {
        for bad in ["", "XX", "New York", "N", "NYC", "ON"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}

//! The media types of GraphQL over HTTP: what a request's body may be (`Content-Type`) and
//! which type its answer is in (`Accept`). A client that accepts
//! `application/graphql-response+json` (the specification's own type) gets it, with its status
//! codes; any other client gets `application/json`, exactly as before the specification's type
//! was served: no `Accept`, `*/*`, `application/*` and `application/json` all mean it.

use super::error::ApiError;

/// The answer's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: every well-formed request is answered 200.
    Json,
    /// `application/graphql-response+json`: a request that never ran (it did not parse or
    /// validate) is answered 400, with no `data` entry.
    GraphQlResponse,
}

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

impl MediaType {
    /// The `Content-Type` of an answer in this type.
    pub fn content_type(self) -> &'static str {
        match self {
            MediaType::Json => JSON,
            MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }

    /// The type to answer in, from the request's `Accept` header values; None: the client
    /// accepts neither (406 Not Acceptable). No header, or an empty one, is `application/json`.
    pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Option<MediaType> {
        let ranges: Vec<Range> =
            accept.into_iter().flat_map(|value| value.split(',')).filter_map(Range::parse).collect();
        if ranges.is_empty() {
            return Some(MediaType::Json);
        }
        let json = Range::best(&ranges, JSON);
        let spec = Range::best(&ranges, GRAPHQL_RESPONSE);
        if json.0 <= 0.0 && spec.0 <= 0.0 {
            return None;
        }
        // The higher quality wins, then the more specific range. Named alike, the specification's
        // own type; reached only by wildcards, `application/json`, as always.
        let spec_wins = match spec.0.total_cmp(&json.0).then(spec.1.cmp(&json.1)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => spec.1 == Specificity::Exact,
        };
        Some(if spec_wins { MediaType::GraphQlResponse } else { MediaType::Json })
    }
}

/// How closely a media range names a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    Any,
    Subtypes,
    Exact,
}

/// One media range of an `Accept` header: `type/subtype` (either may be `*`) and its quality.
struct Range {
    essence: String,
    quality: f32,
}

impl Range {
    fn parse(text: &str) -> Option<Range> {
        let mut parts = text.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if !essence.contains('/') {
            return None;
        }
        // Parameters other than q (a charset) do not matter here; an unreadable q counts as 1.
        let quality = parameter(parts, "q")
            .and_then(|q| q.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .unwrap_or(1.0);
        Some(Range { essence, quality })
    }

    fn specificity(&self, media_type: &str) -> Option<Specificity> {
        let (kind, _) = media_type.split_once('/')?;
        if self.essence == media_type {
            Some(Specificity::Exact)
        } else if self.essence.strip_suffix("/*") == Some(kind) {
            Some(Specificity::Subtypes)
        } else if self.essence == "*/*" {
            Some(Specificity::Any)
        } else {
            None
        }
    }

    /// The quality the most specific range matching `media_type` gives it (0: none does).
    fn best(ranges: &[Range], media_type: &str) -> (f32, Specificity) {
        ranges
            .iter()
            .filter_map(|range| range.specificity(media_type).map(|s| (s, range.quality)))
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .map_or((0.0, Specificity::Any), |(s, q)| (q, s))
    }
}

/// The value of a media type's parameter `name` (`q`, `charset`), among its `;`-separated
/// parameters; quotes around it dropped.
fn parameter<'a>(parameters: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    parameters
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// A POST body must be declared JSON (`application/json`, in UTF-8 when a charset is named);
/// anything else is refused (415) with the error that says so.
pub fn require_json_body(content_type: Option<&str>) -> Result<(), ApiError> {
    let refused = |said: &str| {
        ApiError::bad_input(
            "Content-Type",
            format!("{said}: send the GraphQL request as JSON, with Content-Type: application/json"),
        )
    };
    let Some(value) = content_type.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(refused("the request has no Content-Type"));
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        return Err(refused(&format!("Content-Type {essence} is not served")));
    }
    let charset = parameter(parts, "charset");
    match charset {
        Some(charset) if !charset.eq_ignore_ascii_case("utf-8") => {
            Err(refused(&format!("charset {charset} is not served (UTF-8 only)")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &str) -> Option<MediaType> {
        MediaType::negotiate([accept])
    }

    #[test]
    fn json_unless_the_specifications_type_is_preferred() {
        use MediaType::*;
        assert_eq!(MediaType::negotiate([]), Some(Json));
        for (accept, answer) in [
            ("", Some(Json)),
            ("*/*", Some(Json)),
            ("application/*", Some(Json)),
            ("application/json", Some(Json)),
            ("APPLICATION/JSON; charset=utf-8", Some(Json)),
            ("application/graphql-response+json", Some(GraphQlResponse)),
            ("application/graphql-response+json, application/json;q=0.9", Some(GraphQlResponse)),
            ("application/json, application/graphql-response+json", Some(GraphQlResponse)),
            ("application/graphql-response+json;q=0.5, application/json", Some(Json)),
            ("application/json, */*", Some(Json)),
            ("application/graphql-response+json, */*;q=0.8", Some(GraphQlResponse)),
            ("application/graphql-response+json;q=0, */*", Some(Json)),
            ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Some(Json)),
            ("text/html", None),
            ("application/json;q=0", None),
            ("application/json;q=0, application/graphql-response+json;q=0", None),
        ] {
            assert_eq!(negotiate(accept), answer, "{accept}");
        }
        assert_eq!(MediaType::negotiate(["text/html", "application/json"]), Some(Json), "headers join");
    }

    #[test]
    fn a_post_body_is_declared_json_in_utf8() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(require_json_body(Some(ok)).is_ok(), "{ok}");
        }
        for refused in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/graphql"),
            Some("application/json; charset=latin1"),
        ] {
            let error = require_json_body(refused).unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{refused:?}");
        }
    }
}

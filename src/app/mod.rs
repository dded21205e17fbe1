//! The use-cases: each owns its transaction, loads what the contact policy needs, asks it, and
//! writes. Every door (GraphQL, the dialer, background jobs) calls these.

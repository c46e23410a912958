//! End-to-end tests of the conch binary live in tests/; this library holds their shared helpers.

//! Integration tests of the geodns binary and library, in one test binary.

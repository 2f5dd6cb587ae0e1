//! Values changed at run time and kept in the store's runtime config, one key each and
//! one writer each (the API's change routes; `geodns maintenance` and `geodns override`
//! go through them): members in maintenance ([`maintenance`]) and country overrides
//! ([`overrides`]). The store is the source; the bus only tells nodes that a value
//! changed (with the change, in the original's message shapes).

pub mod maintenance;
pub mod overrides;

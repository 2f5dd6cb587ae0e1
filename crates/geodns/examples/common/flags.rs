//! The benchmarks' command line: `--flag` and `--flag VALUE` arguments, each handed to
//! the example's own `apply` with a way to take its value; an unknown one or a missing
//! value ends the run with a message naming it.

/// Calls `apply(flag, value)` for each argument; `value()` takes the next one.
pub(crate) fn parse(mut apply: impl FnMut(&str, &mut dyn FnMut() -> String)) {
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        apply(&flag, &mut value);
    }
}

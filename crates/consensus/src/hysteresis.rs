//! Per-check hysteresis of this monitor's own results: a check goes down only after
//! `fall` failures in a row and back up only after `rise` successes in a row.

/// Consecutive results needed to flip (the original flips on one: `fall = rise = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Failures in a row before up becomes down.
    pub fall: u32,
    /// Successes in a row before down becomes up.
    pub rise: u32,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis { fall: 2, rise: 2 }
    }
}

/// The debounced status of one check, fed one raw result at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounced {
    /// The status this monitor reports (and votes with).
    status: bool,
    /// Raw results in a row that contradict `status`.
    against: u32,
}

impl Debounced {
    /// The first result of a check is taken as it is: there is nothing to flap from.
    pub fn first(ok: bool) -> Self {
        Debounced {
            status: ok,
            against: 0,
        }
    }

    /// The reported status.
    pub fn status(&self) -> bool {
        self.status
    }

    /// Feeds one raw result; returns `true` when the reported status flipped.
    pub fn feed(&mut self, ok: bool, hysteresis: Hysteresis) -> bool {
        if ok == self.status {
            self.against = 0;
            return false;
        }
        self.against += 1;
        let needed = if ok { hysteresis.rise } else { hysteresis.fall };
        if self.against >= needed.max(1) {
            self.status = ok;
            self.against = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` (`+` ok, `-` failure) and returns the reported status after each.
    fn run(first: bool, results: &str, fall: u32, rise: u32) -> String {
        let mut debounced = Debounced::first(first);
        results
            .chars()
            .map(|c| {
                debounced.feed(c == '+', Hysteresis { fall, rise });
                if debounced.status() { 'U' } else { 'D' }
            })
            .collect()
    }

    #[test]
    fn flips_after_fall_and_rise_results_in_a_row() {
        let cases = [
            // (first, results, fall, rise, reported)
            (true, "-+-+-+", 2, 2, "UUUUUU"),
            (true, "--++", 2, 2, "UDDU"),
            (true, "-+--", 2, 2, "UUUD"),
            (true, "---+-++", 3, 2, "UUDDDDU"),
            (false, "+-+-++", 2, 2, "DDDDDU"),
            (true, "-+", 1, 1, "DU"),
            (true, "-", 0, 0, "D"),
        ];
        for (first, results, fall, rise, want) in cases {
            assert_eq!(
                run(first, results, fall, rise),
                want,
                "first={first} results={results} fall={fall} rise={rise}"
            );
        }
    }
}

//! Any text a client sends as an ISO week (a plan's name, a board's or an
//! initiative's week) is a week or refused: never a panic, and a week it
//! names reads back as the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_cascade::rhythm::weeks::Week;

fuzz_target!(|text: &str| {
    if let Some(week) = Week::parse(text) {
        assert_eq!(week.to_string(), text.to_uppercase());
        assert!(week.start_micros() < week.plus(1).start_micros());
    }
});

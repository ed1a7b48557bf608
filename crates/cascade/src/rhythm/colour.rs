//! Colours, as teams read them in a Four Square: a key result's confidence
//! (0-10) is green at 7 and above, yellow from 4 to 6, red at 3 and below;
//! a metric's status is its colour already. A move between colours is what
//! opens a conversation, not a move within one (8 to 7 is still green).

use std::fmt;

/// Confidence at or above this is green.
pub const GREEN_FROM: i32 = 7;
/// Confidence at or below this is red; between the two, yellow.
pub const RED_TO: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    /// The colour of a check-in's confidence; `None` outside 0-10.
    pub fn of_confidence(confidence: i32) -> Option<Colour> {
        match confidence {
            GREEN_FROM..=10 => Some(Colour::Green),
            0..=RED_TO => Some(Colour::Red),
            value if (0..=10).contains(&value) => Some(Colour::Yellow),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "GREEN",
            Colour::Yellow => "YELLOW",
            Colour::Red => "RED",
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_falls_in_three_bands() {
        let colours: Vec<Option<Colour>> = (-1..=11).map(Colour::of_confidence).collect();
        let (g, y, r) = (Some(Colour::Green), Some(Colour::Yellow), Some(Colour::Red));
        assert_eq!(colours, [None, r, r, r, r, y, y, y, g, g, g, g, None]);
    }
}

//! The weekly rhythm's rules, pure: the colour bands a key result's
//! confidence and a metric's status fall in, the conversations a change of
//! colour opens for the one accountable person, and how a missed check-in
//! climbs the org line. The service keeps their state in its tables and
//! feeds them the events it follows; nothing here does I/O.

pub mod colour;
pub mod conversations;
pub mod missed;
pub mod serving;
pub mod signals;
pub mod weeks;

pub use colour::Colour;
pub use conversations::{Conversation, Conversations, Observation, Subject};
pub use missed::{MissedStep, Overdue, missed_steps};

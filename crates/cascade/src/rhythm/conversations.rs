//! Conversations: when a key result's confidence or a metric's status moves
//! to another colour, one opens for the person accountable for it, saying
//! what moved, from what to what, and when. A further move while it is open
//! updates it (the same conversation, its `to` and its count of moves);
//! only its person closes it, with a note on why it moved and what will be
//! done, and the next move after that opens a new one.
//!
//! Derivation is per subject and follows each subject's events in their
//! feed's order: an event at or before the last one applied is a replay
//! and changes nothing, so a replayed feed or a restart that reads events
//! again never duplicates a conversation, and events of different subjects
//! may arrive interleaved in any way.

use std::collections::HashMap;

use super::colour::Colour;

/// What a conversation is about: a key result or a health metric, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    KeyResult(String),
    Metric(String),
}

impl Subject {
    pub fn name(&self) -> &str {
        let (Subject::KeyResult(name) | Subject::Metric(name)) = self;
        name
    }
}

/// What a colour move does to its subject's conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveEffect {
    /// Applied already: nothing.
    Replay,
    /// The open conversation takes it.
    Update,
    /// A new conversation opens.
    Open,
}

/// The effect of a move at `sequence`, given the subject's latest
/// conversation (the sequence of the last move it took, and whether it is
/// open), if it has one.
pub fn effect_of_move(latest: Option<(i64, bool)>, sequence: i64) -> MoveEffect {
    match latest {
        Some((last, _)) if sequence <= last => MoveEffect::Replay,
        Some((_, true)) => MoveEffect::Update,
        _ => MoveEffect::Open,
    }
}

/// A colour seen for a subject: a check-in's confidence, or a metric's
/// status after a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub subject: Subject,
    /// Its place in its feed: later events have larger sequences.
    pub sequence: u64,
    pub at_micros: i64,
    pub colour: Colour,
    /// Who is accountable for the subject now (the key result's owner, the
    /// metric's accountable person).
    pub accountable: String,
    /// What was seen, for people: "confidence 3", "4.1 (threshold 4.2)".
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    pub note: String,
    pub by: String,
    pub at_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub subject: Subject,
    /// Whose it is: the subject's accountable person at its latest move.
    pub person: String,
    /// The colour before the move that opened it.
    pub from: Colour,
    /// The colour after its latest move.
    pub to: Colour,
    /// The sequence of the observation that opened it: with the subject,
    /// what names it, the same however often the feed is read.
    pub opened_sequence: u64,
    pub opened_micros: i64,
    pub moved_micros: i64,
    /// Colour moves it has seen (1 when opened).
    pub moves: u32,
    /// The latest observation's detail.
    pub detail: String,
    pub closing: Option<Closing>,
}

impl Conversation {
    pub fn is_open(&self) -> bool {
        self.closing.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    #[error("no such conversation")]
    NotFound,
    #[error("the conversation was closed already")]
    Closed,
}

/// One subject's colour so far and its conversations, oldest first (all
/// but the last closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct History {
    last_sequence: u64,
    colour: Option<Colour>,
    conversations: Vec<Conversation>,
}

/// Every subject's conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversations {
    subjects: HashMap<Subject, History>,
}

impl Conversations {
    /// Applies `observation`; the conversation it opened or changed, if any.
    pub fn observe(&mut self, observation: Observation) -> Option<&Conversation> {
        let history = self.subjects.entry(observation.subject.clone()).or_default();
        if observation.sequence <= history.last_sequence && history.colour.is_some() {
            return None;
        }
        history.last_sequence = observation.sequence;
        let Some(before) = history.colour.replace(observation.colour) else {
            // The first colour seen is where the subject starts, not a move.
            return None;
        };
        if before == observation.colour {
            return None;
        }
        match history.conversations.last_mut().filter(|last| last.is_open()) {
            Some(open) => {
                open.to = observation.colour;
                open.moved_micros = observation.at_micros;
                open.moves += 1;
                open.person = observation.accountable;
                open.detail = observation.detail;
            }
            None => history.conversations.push(Conversation {
                subject: observation.subject,
                person: observation.accountable,
                from: before,
                to: observation.colour,
                opened_sequence: observation.sequence,
                opened_micros: observation.at_micros,
                moved_micros: observation.at_micros,
                moves: 1,
                detail: observation.detail,
                closing: None,
            }),
        }
        history.conversations.last()
    }

    /// Closes the conversation on `subject` opened at `opened_sequence`.
    pub fn close(
        &mut self,
        subject: &Subject,
        opened_sequence: u64,
        closing: Closing,
    ) -> Result<&Conversation, CloseError> {
        let conversation = self
            .subjects
            .get_mut(subject)
            .and_then(|history| {
                history
                    .conversations
                    .iter_mut()
                    .find(|conversation| conversation.opened_sequence == opened_sequence)
            })
            .ok_or(CloseError::NotFound)?;
        if !conversation.is_open() {
            return Err(CloseError::Closed);
        }
        conversation.closing = Some(closing);
        Ok(conversation)
    }

    /// A subject's conversations, oldest first.
    pub fn of(&self, subject: &Subject) -> &[Conversation] {
        self.subjects
            .get(subject)
            .map_or(&[], |history| history.conversations.as_slice())
    }

    /// The open conversations, in no order.
    pub fn open(&self) -> impl Iterator<Item = &Conversation> {
        self.subjects
            .values()
            .filter_map(|history| history.conversations.last().filter(|last| last.is_open()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn seen(subject: &Subject, sequence: u64, colour: Colour) -> Observation {
        Observation {
            subject: subject.clone(),
            sequence,
            at_micros: i64::try_from(sequence).unwrap_or(i64::MAX) * 1_000,
            colour,
            accountable: "ana".into(),
            detail: format!("#{sequence}"),
        }
    }

    #[test]
    fn a_drop_opens_one_conversation_a_further_drop_updates_it_and_a_close_ends_it() {
        let kr = Subject::KeyResult("objectives/grow/keyResults/arr".into());
        let mut conversations = Conversations::default();
        assert!(conversations.observe(seen(&kr, 1, Colour::Green)).is_none());
        assert!(
            conversations.observe(seen(&kr, 2, Colour::Green)).is_none(),
            "8 to 7 is no move"
        );
        let opened = conversations.observe(seen(&kr, 3, Colour::Yellow)).cloned();
        assert_eq!(
            opened.map(|c| (c.from, c.to, c.moves, c.opened_sequence)),
            Some((Colour::Green, Colour::Yellow, 1, 3))
        );
        let updated = conversations.observe(seen(&kr, 4, Colour::Red)).cloned();
        assert_eq!(
            updated.map(|c| (c.from, c.to, c.moves)),
            Some((Colour::Green, Colour::Red, 2))
        );
        assert!(
            conversations.observe(seen(&kr, 3, Colour::Yellow)).is_none(),
            "a replay"
        );
        assert_eq!(conversations.of(&kr).len(), 1);
        let closing = Closing {
            note: "a lost deal; weekly pipeline review".into(),
            by: "ana".into(),
            at_micros: 5_000,
        };
        assert!(conversations.close(&kr, 3, closing.clone()).is_ok());
        assert_eq!(conversations.close(&kr, 3, closing).err(), Some(CloseError::Closed));
        assert_eq!(conversations.open().count(), 0);
        let next = conversations.observe(seen(&kr, 5, Colour::Green)).cloned();
        assert_eq!(
            next.map(|c| (c.from, c.to, c.opened_sequence)),
            Some((Colour::Red, Colour::Green, 5))
        );
        assert_eq!(conversations.of(&kr).len(), 2);
    }

    #[test]
    fn a_move_is_a_replay_an_update_or_an_opening() {
        assert_eq!(effect_of_move(None, 1), MoveEffect::Open);
        assert_eq!(effect_of_move(Some((5, true)), 5), MoveEffect::Replay);
        assert_eq!(effect_of_move(Some((5, false)), 3), MoveEffect::Replay);
        assert_eq!(effect_of_move(Some((5, true)), 6), MoveEffect::Update);
        assert_eq!(effect_of_move(Some((5, false)), 6), MoveEffect::Open);
    }

    /// One subject's events in feed order: colours, with a close after some.
    fn subject_events() -> impl Strategy<Value = Vec<(Colour, bool)>> {
        let colour = prop_oneof![Just(Colour::Green), Just(Colour::Yellow), Just(Colour::Red)];
        proptest::collection::vec((colour, proptest::bool::weighted(0.2)), 1..12)
    }

    enum Event {
        Seen(Observation),
        /// Close whatever is open on the subject.
        Close(Subject),
    }

    fn apply(conversations: &mut Conversations, event: &Event) {
        match event {
            Event::Seen(observation) => {
                conversations.observe(observation.clone());
            }
            Event::Close(subject) => {
                let open = conversations
                    .of(subject)
                    .last()
                    .filter(|last| last.is_open())
                    .map(|last| last.opened_sequence);
                if let Some(opened) = open {
                    let closing = Closing {
                        note: "talked".into(),
                        by: "ana".into(),
                        at_micros: 0,
                    };
                    let _ = conversations.close(subject, opened, closing);
                }
            }
        }
    }

    proptest! {
        /// Each subject's events keep their order; how subjects interleave,
        /// and replays of events already applied, change nothing.
        #[test]
        fn any_interleaving_with_replays_derives_the_same_conversations(
            histories in proptest::collection::vec(subject_events(), 1..6),
            picks in proptest::collection::vec(any::<usize>(), 0..200),
            replays in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..20),
        ) {
            let streams: Vec<Vec<Event>> = histories
                .iter()
                .enumerate()
                .map(|(index, events)| {
                    let subject = if index % 2 == 0 {
                        Subject::KeyResult(format!("kr-{index}"))
                    } else {
                        Subject::Metric(format!("metric-{index}"))
                    };
                    let mut stream = Vec::new();
                    for (position, (colour, close_after)) in events.iter().enumerate() {
                        stream.push(Event::Seen(seen(&subject, position as u64 + 1, *colour)));
                        if *close_after {
                            stream.push(Event::Close(subject.clone()));
                        }
                    }
                    stream
                })
                .collect();
            let mut in_order = Conversations::default();
            for stream in &streams {
                for event in stream {
                    apply(&mut in_order, event);
                }
            }
            // The same events merged by the picks, observations seen
            // before replayed now and then.
            let mut merged = Conversations::default();
            let mut next = vec![0usize; streams.len()];
            let mut picks = picks.into_iter().chain(std::iter::repeat(0));
            let mut replays = replays.into_iter();
            while next.iter().zip(&streams).any(|(at, stream)| *at < stream.len()) {
                let waiting: Vec<usize> = (0..streams.len()).filter(|&s| next[s] < streams[s].len()).collect();
                let stream = waiting[picks.next().unwrap_or(0) % waiting.len()];
                apply(&mut merged, &streams[stream][next[stream]]);
                next[stream] += 1;
                if let Some((which, back)) = replays.next() {
                    let stream = which % streams.len();
                    if next[stream] > 0
                        && let Event::Seen(old) = &streams[stream][back % next[stream]]
                    {
                        merged.observe(old.clone());
                    }
                }
            }
            prop_assert_eq!(&merged, &in_order);
        }

        /// Without closes, what is open equals what the final history says:
        /// a subject has an open conversation exactly when its colour ever
        /// moved, from its first colour to its last, counting every move.
        #[test]
        fn open_conversations_follow_from_the_history(
            histories in proptest::collection::vec(subject_events(), 1..6),
        ) {
            let mut conversations = Conversations::default();
            for (index, events) in histories.iter().enumerate() {
                let subject = Subject::KeyResult(format!("kr-{index}"));
                for (position, (colour, _)) in events.iter().enumerate() {
                    conversations.observe(seen(&subject, position as u64 + 1, *colour));
                }
            }
            for (index, events) in histories.iter().enumerate() {
                let subject = Subject::KeyResult(format!("kr-{index}"));
                let colours: Vec<Colour> = events.iter().map(|(colour, _)| *colour).collect();
                let moves = colours.windows(2).filter(|pair| pair[0] != pair[1]).count();
                let found = conversations.of(&subject);
                if moves == 0 {
                    prop_assert!(found.is_empty());
                } else {
                    prop_assert_eq!(found.len(), 1);
                    let open = &found[0];
                    prop_assert!(open.is_open());
                    prop_assert_eq!((open.from, open.to, open.moves as usize), (colours[0], colours[colours.len() - 1], moves));
                }
            }
        }
    }
}

//! What the pullers share when they fill people's profiles: the values that could not be read,
//! reported once per field per run rather than once per person.

use crate::model::{Problem, UserKey};
use std::collections::BTreeMap;

/// Profile values left out because they came in a form that cannot be read as text, by field.
#[derive(Debug, Default)]
pub(crate) struct Unreadable {
    /// Field name (`custom.<name>`, `hire_date`, …) → who had such values.
    fields: BTreeMap<String, Tally>,
}

#[derive(Debug)]
struct Tally {
    people: u64,
    first: UserKey,
    /// A person's values are read together: the same person twice in a row counts once.
    last: UserKey,
}

impl Unreadable {
    /// `user` had an unreadable value in `field`.
    pub(crate) fn note(&mut self, field: &str, user: &UserKey) {
        match self.fields.get_mut(field) {
            Some(tally) if tally.last == *user => {}
            Some(tally) => {
                tally.people += 1;
                tally.last = user.clone();
            }
            None => {
                let tally = Tally {
                    people: 1,
                    first: user.clone(),
                    last: user.clone(),
                };
                self.fields.insert(field.to_owned(), tally);
            }
        }
    }

    /// One problem per field, in field order.
    pub(crate) fn into_problems(self) -> impl Iterator<Item = Problem> {
        self.fields
            .into_iter()
            .map(|(field, tally)| Problem::UnreadableField {
                field,
                people: tally.people,
                example: tally.first,
            })
    }
}

/// The name a custom field goes by in expressions and reports: `custom.<name>`.
pub(crate) fn custom_field(name: &str) -> String {
    format!("custom.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_per_field_with_the_first_person_named() {
        let mut unreadable = Unreadable::default();
        unreadable.note("custom.level", &UserKey::new("b"));
        unreadable.note("custom.level", &UserKey::new("b"));
        unreadable.note("hire_date", &UserKey::new("a"));
        unreadable.note("custom.level", &UserKey::new("a"));
        let problems: Vec<Problem> = unreadable.into_problems().collect();
        assert_eq!(
            problems,
            [
                Problem::UnreadableField {
                    field: "custom.level".into(),
                    people: 2,
                    example: UserKey::new("b"),
                },
                Problem::UnreadableField {
                    field: "hire_date".into(),
                    people: 1,
                    example: UserKey::new("a"),
                },
            ]
        );
    }
}

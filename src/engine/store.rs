//! How the page keeps the learner's data in a key–value store (localStorage in the browser)
//! without ever losing it: stored text that cannot be read is copied to a backup key and left
//! alone until the learner changes something; nothing invalid is written; a failure is an error
//! the page shows until the learner dismisses it. Pure logic over [`KeyValue`], so it is tested
//! natively with a map.

use crate::engine::learner::LearnerData;

/// The key of the learner's data.
pub const KEY: &str = "deviate.v1";
/// Where unreadable stored text is kept: this key, or `KEY.backup.2` … when it is taken.
pub const BACKUP_KEY: &str = "deviate.v1.backup";
/// How many backup keys are tried before the page gives up writing at all.
const MAX_BACKUPS: usize = 9;

/// A string store that can fail (quota, private mode).
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<String>, String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), String>;
}

/// What the page starts from.
#[derive(Debug, PartialEq)]
pub struct Opened {
    pub data: LearnerData,
    /// Shown to the learner until dismissed.
    pub error: Option<String>,
    pub saver: Saver,
}

/// When the page may write: the first save after an unreadable boot waits for a change, and a
/// store whose unreadable text could not be backed up is never written.
#[derive(Clone, Debug, PartialEq)]
pub struct Saver {
    /// The JSON last read or written: writing it again is skipped.
    last: Option<String>,
    /// The next save only records what the page opened with (after an unreadable boot).
    hold_first: bool,
    /// Writing would destroy data that exists nowhere else.
    locked: bool,
}

/// Reads the learner's data from `store`. Unreadable or invalid text is backed up first; if that
/// fails, the store is locked against writes for this visit.
pub fn open(store: &mut impl KeyValue) -> Opened {
    let raw = match store.get(KEY) {
        Ok(Some(raw)) => raw,
        Ok(None) => return fresh(None, Saver { last: None, hold_first: false, locked: false }),
        Err(_) => {
            let why = "This browser does not let the page store data (private mode?): nothing will be kept after you leave.";
            return fresh(Some(why.into()), Saver { last: None, hold_first: false, locked: false });
        }
    };
    match LearnerData::from_json(&raw) {
        Ok(data) => Opened { data, error: None, saver: Saver { last: Some(raw), hold_first: false, locked: false } },
        Err(why) => match back_up(store, &raw) {
            Ok(key) => fresh(
                Some(format!(
                    "Your saved data could not be read ({why}). Its text is kept under the storage key \"{key}\"; the page starts afresh and saves again only once you change something."
                )),
                Saver { last: None, hold_first: true, locked: false },
            ),
            Err(_) => fresh(
                Some(format!(
                    "Your saved data could not be read ({why}), and there is no room to keep a copy of it: nothing will be saved during this visit, so it stays as it was."
                )),
                Saver { last: None, hold_first: false, locked: true },
            ),
        },
    }
}

fn fresh(error: Option<String>, saver: Saver) -> Opened {
    Opened { data: LearnerData::default(), error, saver }
}

/// Copies `raw` to the first backup key that is free or already holds it; returns that key.
fn back_up(store: &mut impl KeyValue, raw: &str) -> Result<String, String> {
    for k in 1..=MAX_BACKUPS {
        let key = if k == 1 { BACKUP_KEY.to_string() } else { format!("{BACKUP_KEY}.{k}") };
        match store.get(&key)? {
            Some(kept) if kept == raw => return Ok(key),
            Some(_) => continue,
            None => return store.set(&key, raw).map(|()| key),
        }
    }
    Err("every backup key is taken".into())
}

impl Saver {
    /// Writes `data` unless it is what the store already holds. Invalid data (the checks an
    /// import goes through, so it can be read back) is refused, and so is any write while locked.
    pub fn save(&mut self, store: &mut impl KeyValue, data: &LearnerData) -> Result<(), String> {
        if self.locked {
            return Err("Nothing was saved: your earlier data could not be read or copied, so the page leaves it as it was. Export what you want to keep.".into());
        }
        let json = data.to_json();
        if self.hold_first || self.last.as_deref() == Some(json.as_str()) {
            self.hold_first = false;
            self.last = Some(json);
            return Ok(());
        }
        LearnerData::from_json(&json).map_err(|why| format!("Not saved ({why}); your last saved data is kept."))?;
        store.set(KEY, &json)?;
        self.last = Some(json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A map with an optional byte budget, like a browser's storage quota.
    #[derive(Default)]
    struct Map {
        entries: BTreeMap<String, String>,
        quota: Option<usize>,
    }

    impl KeyValue for Map {
        fn get(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.entries.get(key).cloned())
        }
        fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
            let used: usize = self.entries.iter().filter(|(k, _)| *k != key).map(|(_, v)| v.len()).sum();
            if self.quota.is_some_and(|q| used + value.len() > q) {
                return Err("quota exceeded".into());
            }
            self.entries.insert(key.into(), value.into());
            Ok(())
        }
    }

    fn rated() -> LearnerData {
        let mut data = LearnerData::default();
        data.rate("p", "a continuation", Some(4)).unwrap();
        data
    }

    #[test]
    fn readable_data_opens_and_an_unchanged_save_writes_nothing() {
        let mut store = Map::default();
        store.set(KEY, &rated().to_json()).unwrap();
        let mut opened = open(&mut store);
        assert_eq!((opened.data.clone(), opened.error.clone()), (rated(), None));
        store.quota = Some(0); // any write would now fail
        opened.saver.save(&mut store, &rated()).unwrap();
    }

    #[test]
    fn unreadable_data_is_backed_up_and_not_overwritten_until_a_change() {
        let mut store = Map::default();
        let invalid = rated().to_json().replace("\"score\": 4", "\"score\": 0");
        store.set(KEY, &invalid).unwrap();
        let mut opened = open(&mut store);
        assert!(opened.error.as_deref().unwrap().contains(BACKUP_KEY));
        assert_eq!(opened.data, LearnerData::default());
        // The page's first save, of what it opened with (here a link's experiment), leaves the
        // stored text alone.
        let mut from_link = LearnerData::default();
        from_link.experiment.generate.sampling.seed = 7;
        opened.saver.save(&mut store, &from_link).unwrap();
        opened.saver.save(&mut store, &from_link).unwrap();
        assert_eq!(store.entries[KEY], invalid);
        // A second visit finds the same backup, not a second one.
        let again = open(&mut store);
        assert!(again.error.is_some());
        assert_eq!(store.entries.len(), 2);
        // A change is saved; the old text stays in the backup.
        opened.saver.save(&mut store, &rated()).unwrap();
        assert_eq!(store.entries[BACKUP_KEY], invalid);
        assert_eq!(LearnerData::from_json(&store.entries[KEY]).unwrap(), rated());
    }

    #[test]
    fn a_taken_backup_key_is_kept_and_the_next_one_used() {
        let mut store = Map::default();
        store.set(BACKUP_KEY, "an older backup").unwrap();
        store.set(KEY, "{not json").unwrap();
        let opened = open(&mut store);
        assert!(opened.error.unwrap().contains("deviate.v1.backup.2"));
        assert_eq!(store.entries[BACKUP_KEY], "an older backup");
        assert_eq!(store.entries["deviate.v1.backup.2"], "{not json");
    }

    #[test]
    fn without_room_for_a_backup_nothing_is_ever_written() {
        let mut store = Map::default();
        store.set(KEY, "{not json").unwrap();
        store.quota = Some(12);
        let mut opened = open(&mut store);
        assert!(opened.error.unwrap().contains("nothing will be saved"));
        store.quota = None;
        let refused = opened.saver.save(&mut store, &rated()).unwrap_err();
        assert!(refused.contains("Nothing was saved"));
        assert_eq!(store.entries[KEY], "{not json");
    }

    #[test]
    fn invalid_data_is_refused_before_it_is_written() {
        let mut store = Map::default();
        let mut opened = open(&mut store);
        opened.saver.save(&mut store, &rated()).unwrap();
        let mut bad = rated();
        bad.experiment.responses = "line\n".repeat(300);
        let refused = opened.saver.save(&mut store, &bad).unwrap_err();
        assert!(refused.contains("300 responses"), "{refused}");
        assert_eq!(LearnerData::from_json(&store.entries[KEY]).unwrap(), rated());
    }

    #[test]
    fn a_failed_write_is_an_error_and_is_retried() {
        let mut store = Map { quota: Some(10), ..Map::default() };
        let mut opened = open(&mut store);
        assert!(opened.saver.save(&mut store, &rated()).is_err());
        store.quota = None;
        opened.saver.save(&mut store, &rated()).unwrap();
        assert!(store.entries.contains_key(KEY));
    }
}

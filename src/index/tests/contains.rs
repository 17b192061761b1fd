//! Asking a set of runs for the prediction entries of many UUIDs at once.

use super::*;

#[test]
fn batch_check_finds_predictions_of_every_run() {
    let dir = TempDir::new().unwrap();
    let inputs: Vec<Vec<IndexEntry>> = (1..=3).map(|seed| predictions(300, seed)).collect();
    // Orphan entries only: their UUIDs have no prediction entry.
    let orphans: Vec<IndexEntry> = (0..50)
        .map(|i| entry(random_uuid(9_000 + i), EntryKind::Delayed, 4, i as u32))
        .collect();
    let source = MapSource::of(&[inputs.concat(), orphans.clone()].concat());
    let mut runs = Vec::new();
    for (id, entries) in (1..).zip(inputs.iter().chain([&orphans])) {
        runs.push(Arc::new(
            IndexRun::write(dir.path(), id, entries.clone()).unwrap(),
        ));
    }
    let set = IndexSet::new(runs);

    let stored: Vec<Uuid> = inputs.concat().iter().map(|e| e.uuid).collect();
    let orphan_uuids: Vec<Uuid> = orphans.iter().map(|e| e.uuid).collect();
    let absent: Vec<Uuid> = (0..300).map(|i| random_uuid(50_000 + i)).collect();
    let requested: Vec<Uuid> = [stored.clone(), orphan_uuids.clone(), absent.clone()].concat();

    let found = set.contains_predictions(&requested, &source).unwrap();
    assert_eq!(found.len(), requested.len());
    for (uuid, found) in requested.iter().zip(&found) {
        let expected = stored.contains(uuid);
        assert_eq!(*found, expected, "{uuid}");
        assert_eq!(
            set.contains_prediction(uuid, &source).unwrap(),
            expected,
            "{uuid}"
        );
    }
}

#[test]
fn batch_check_of_nothing_is_empty() {
    let set = IndexSet::default();
    let found = set
        .contains_predictions(&[], &MapSource::default())
        .unwrap();
    assert!(found.is_empty());
}

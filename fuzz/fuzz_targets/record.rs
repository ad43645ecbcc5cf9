//! User records: never panics, and what parses survives the round trip
//! (parse → write → parse gives the same record).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::store::Record;

fuzz_target!(|text: &str| {
    if let Ok(record) = Record::from_toml(text) {
        let written = record.to_toml().expect("a valid record serializes");
        assert_eq!(
            Record::from_toml(&written).expect("what we write parses"),
            record
        );
    }
});

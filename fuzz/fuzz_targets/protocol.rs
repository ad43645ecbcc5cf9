//! What a hostile client sends pam_mfad: a frame reader that never panics, never
//! reads past the limit, and whatever decodes survives the round trip
//! (decode → encode → decode gives the same message).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_proto::{decode, encode, read_frame, Reply, Request, MAX_FRAME};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = read_frame::<Request>(&mut &data[..]) {
        assert!(data.len() >= 4);
        let frame = encode(&request).expect("a decoded request encodes");
        assert!(frame.len() <= 4 + MAX_FRAME);
        assert_eq!(read_frame::<Request>(&mut &frame[..]).unwrap(), request);
    }
    if let Ok(reply) = decode::<Reply>(data) {
        let frame = encode(&reply).expect("a decoded reply encodes");
        assert_eq!(decode::<Reply>(&frame[4..]).unwrap(), reply);
    }
});

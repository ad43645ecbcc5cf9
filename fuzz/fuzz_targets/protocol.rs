//! What a hostile client sends pam_mfad: a frame reader that never panics, never
//! reads past the limit, and whatever decodes survives the round trip
//! (decode → encode → decode gives the same message). What a user types into a
//! combined prompt: the split never panics, leaves a password, and cuts off a
//! code that is all digits of the asked length or a printed recovery code.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_proto::{decode, encode, read_frame, split_combined, Reply, Request, CODE_DIGITS, MAX_FRAME};

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
    if let Some((&digits, answer)) = data.split_first() {
        if let Some(cut) = split_combined(answer, digits) {
            assert!(cut > 0 && cut < answer.len(), "a password and a code");
            let code = &answer[cut..];
            let printed = code.len() == 19 && code.iter().filter(|b| **b == b'-').count() == 3;
            let digits_only = CODE_DIGITS.contains(&digits)
                && code.len() == usize::from(digits)
                && code.iter().all(u8::is_ascii_digit);
            assert!(printed || digits_only, "{code:?}");
        }
    }
});

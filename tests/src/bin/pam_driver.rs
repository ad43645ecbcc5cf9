//! A libpam application for the suites and the benchmarks: pam_start →
//! pam_authenticate → pam_end in one process, with a conversation that answers
//! prompts with arbitrary bytes (NUL, non-UTF-8, a megabyte) and a no-op
//! PAM_FAIL_DELAY so failures are not slept on.
//!
//! Usage:
//!   pam_driver once SERVICE USER ANSWER_FILE [--again ANSWER_FILE] [--account] [--setcred] [--env]
//!       One authentication; prints the conversation and `result=<code>`; exits 0
//!       on PAM_SUCCESS, 1 otherwise. --again: after a failure, pam_authenticate
//!       once more on the same handle (as login(1) retries), answering with the
//!       second file; `first=<code>` is the first attempt's result. After a
//!       success, --account calls pam_acct_mgmt and --setcred
//!       pam_setcred(PAM_ESTABLISH_CRED), as login programs do (in that order),
//!       each printing `account=<code>` or `setcred=<code>`; the exit status is 0
//!       only if they succeed too. --env prints the PAM environment at the end,
//!       one `env: NAME=VALUE` line each.
//!   pam_driver chat SERVICE USER [--no-info] [--silent]
//!       One authentication, interactively: every message is printed as
//!       `[style] text` and flushed; each prompt is answered with the next line of
//!       standard input (end of input fails the conversation). --no-info makes the
//!       conversation refuse information messages (a client that cannot show text);
//!       --silent passes PAM_SILENT. Ends with `result=<code>`.
//!   pam_driver bench SERVICE USERS_FILE ITERATIONS THREADS (--secret BASE32 | --answer TEXT)
//!       ITERATIONS authentications per thread, cycling through the users (one per
//!       line); the answer is the current TOTP code of BASE32 (SHA1, 6 digits,
//!       30 s) or TEXT. Prints one line of key=value results (latencies in µs).
//!
//! With PAM_DRIVER_IGNORE_SIGCHLD set in its environment, the driver ignores
//! SIGCHLD, as applications that let the kernel reap their children do.
//!
//! All `unsafe` is the libpam FFI and that signal(2); each block names the contract
//! it relies on.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_getenvlist(pamh: *mut c_void) -> *mut *mut c_char;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item: c_int, value: *const c_void) -> c_int;
    fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_FAIL_DELAY: c_int = 10;
const PAM_CONV_ERR: c_int = 19;

/// What the conversation answers, and what it saw.
struct AppData {
    answer: Vec<u8>,
    /// `once --again`: the answer of the second attempt, used once `attempt` is 1.
    retry: Option<Vec<u8>>,
    attempt: std::sync::atomic::AtomicUsize,
    transcript: Mutex<Vec<String>>,
    /// Chat mode: print each message at once and answer from stdin.
    chat: Option<Chat>,
}

#[derive(Clone, Copy)]
struct Chat {
    refuse_info: bool,
}

const PAM_SILENT: c_int = 0x8000;

extern "C" fn conversation(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let Ok(n) = usize::try_from(n) else {
        return PAM_CONV_ERR;
    };
    // SAFETY: appdata is the &AppData passed to pam_start, alive for the whole
    // authentication (pam_end runs before it is dropped).
    let data = unsafe { &*(appdata as *const AppData) };
    // SAFETY: libpam frees the array and each resp with free(), so both come from
    // calloc/malloc; calloc zeroes resp_retcode and the pointers.
    let out = unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if out.is_null() {
        return PAM_CONV_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes `msgs` as a pointer to an array of n pointers.
        let m = unsafe { &**msgs.add(i) };
        // SAFETY: every message is a NUL-terminated string owned by libpam.
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        let prompt = m.msg_style == PAM_PROMPT_ECHO_OFF || m.msg_style == PAM_PROMPT_ECHO_ON;
        let mut answer = match &data.retry {
            Some(retry) if data.attempt.load(std::sync::atomic::Ordering::SeqCst) > 0 => {
                retry.clone()
            }
            _ => data.answer.clone(),
        };
        if let Some(chat) = data.chat {
            use std::io::{BufRead, Write};
            if !prompt && chat.refuse_info {
                println!("[refused {}] {text}", m.msg_style);
                // SAFETY: out came from calloc above; nothing was put in it yet.
                unsafe { libc::free(out as *mut c_void) };
                return PAM_CONV_ERR;
            }
            println!("[{}] {text}", m.msg_style);
            let _ = std::io::stdout().flush();
            if prompt {
                let mut line = String::new();
                if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
                    // SAFETY: as above; earlier answers in `out` are leaked, which
                    // is harmless in this one-shot test program.
                    unsafe { libc::free(out as *mut c_void) };
                    return PAM_CONV_ERR;
                }
                answer = line.trim_end_matches('\n').as_bytes().to_vec();
            }
        } else if let Ok(mut t) = data.transcript.lock() {
            t.push(format!("[{}] {text}", m.msg_style));
        }
        if prompt {
            // SAFETY: a fresh allocation of answer + NUL, handed to libpam to free.
            let buf = unsafe { libc::malloc(answer.len() + 1) } as *mut u8;
            if buf.is_null() {
                return PAM_CONV_ERR;
            }
            // SAFETY: buf holds answer.len() + 1 bytes; the answer may contain NUL,
            // which the module then sees as the end of the string.
            unsafe {
                ptr::copy_nonoverlapping(answer.as_ptr(), buf, answer.len());
                *buf.add(answer.len()) = 0;
                (*out.add(i)).resp = buf as *mut c_char;
            }
        }
    }
    // SAFETY: resp is libpam's out-parameter.
    unsafe { *resp = out };
    0
}

extern "C" fn no_delay(_status: c_int, _usec: libc::c_uint, _appdata: *mut c_void) {}

/// One pam_start → pam_authenticate → pam_end. Returns the PAM code.
fn authenticate(service: &CStr, user: &CStr, data: &AppData) -> c_int {
    authenticate_with(service, user, data, 0, &mut After::default())
}

/// What to call after a successful pam_authenticate, and what it returned.
#[derive(Default)]
struct After {
    account: Option<c_int>,
    setcred: Option<c_int>,
    /// The first attempt's result, when a second one ran (`--again`).
    first: Option<c_int>,
    /// The PAM environment at the end (`--env`).
    env: Option<Vec<String>>,
}

const PAM_ESTABLISH_CRED: c_int = 0x0002;

fn authenticate_with(
    service: &CStr,
    user: &CStr,
    data: &AppData,
    flags: c_int,
    after: &mut After,
) -> c_int {
    let conv = PamConv {
        conv: conversation,
        appdata: data as *const AppData as *mut c_void,
    };
    let mut pamh: *mut c_void = ptr::null_mut();
    // SAFETY: valid C strings, a conversation that outlives the handle, an
    // out-pointer for the handle.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut pamh) };
    if rc != 0 {
        return rc;
    }
    // SAFETY: PAM_FAIL_DELAY takes a function pointer; libpam calls it instead of
    // sleeping after a failure.
    unsafe { pam_set_item(pamh, PAM_FAIL_DELAY, no_delay as *const c_void) };
    // SAFETY: pamh came from pam_start and is ended exactly once below.
    let mut rc = unsafe { pam_authenticate(pamh, flags) };
    if rc != 0 && data.retry.is_some() {
        after.first = Some(rc);
        data.attempt.store(1, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: as above, on the same handle.
        rc = unsafe { pam_authenticate(pamh, flags) };
    }
    let mut last = rc;
    if rc == 0 && after.account.is_some() {
        // SAFETY: as above, on the same handle.
        last = unsafe { pam_acct_mgmt(pamh, 0) };
        after.account = Some(last);
    }
    if last == 0 && after.setcred.is_some() {
        // SAFETY: as above, on the same handle.
        last = unsafe { pam_setcred(pamh, PAM_ESTABLISH_CRED) };
        after.setcred = Some(last);
    }
    if let Some(env) = after.env.as_mut() {
        // SAFETY: as above; the list and its strings are malloc'd copies that the
        // caller frees.
        let list = unsafe { pam_getenvlist(pamh) };
        if !list.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: a NULL-terminated array of C strings.
                let entry = unsafe { *list.add(i) };
                if entry.is_null() {
                    break;
                }
                // SAFETY: a valid C string, copied before it is freed.
                env.push(
                    unsafe { CStr::from_ptr(entry) }
                        .to_string_lossy()
                        .into_owned(),
                );
                // SAFETY: malloc'd by libpam for the caller, not used again.
                unsafe { libc::free(entry as *mut c_void) };
                i += 1;
            }
            // SAFETY: the array itself, freed once.
            unsafe { libc::free(list as *mut c_void) };
        }
    }
    // SAFETY: as above.
    unsafe { pam_end(pamh, last) };
    rc
}

fn strerror(code: c_int) -> String {
    // SAFETY: pam_strerror accepts a NULL handle in Linux-PAM and returns a static
    // string.
    let s = unsafe { pam_strerror(ptr::null_mut(), code) };
    if s.is_null() {
        return code.to_string();
    }
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn current_code(secret: &mfa_core::totp::Secret) -> String {
    let p = mfa_core::totp::Params::DEFAULT;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mfa_core::totp::code_at(secret, p, p.step_at(now)).to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os("PAM_DRIVER_IGNORE_SIGCHLD").is_some() {
        // Like applications that let the kernel reap their children: a module's
        // waitpid then finds no child (ECHILD).
        // SAFETY: signal(2) with SIG_IGN, before any thread exists.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }
    match args.get(1).map(String::as_str) {
        Some("once") if args.len() >= 5 => {
            let flags = &args[5..];
            let retry = flags
                .iter()
                .position(|a| a == "--again")
                .map(|i| std::fs::read(&flags[i + 1]).expect("second answer file"));
            for (i, flag) in flags.iter().enumerate() {
                let value = i > 0 && flags[i - 1] == "--again";
                if !value
                    && !["--again", "--account", "--setcred", "--env"].contains(&flag.as_str())
                {
                    eprintln!("pam_driver once: unknown flag {flag}");
                    std::process::exit(2);
                }
            }
            let data = AppData {
                answer: std::fs::read(&args[4]).expect("answer file"),
                retry,
                attempt: Default::default(),
                transcript: Mutex::new(vec![]),
                chat: None,
            };
            let service = CString::new(args[2].as_str()).unwrap();
            let user = CString::new(args[3].as_str()).unwrap();
            let mut after = After {
                account: flags.iter().any(|a| a == "--account").then_some(-1),
                setcred: flags.iter().any(|a| a == "--setcred").then_some(-1),
                first: None,
                env: flags.iter().any(|a| a == "--env").then(Vec::new),
            };
            let rc = authenticate_with(&service, &user, &data, 0, &mut after);
            for line in data.transcript.lock().unwrap().iter() {
                println!("{line}");
            }
            if let Some(first) = after.first {
                println!("first={first} {}", strerror(first));
            }
            println!("result={rc} {}", strerror(rc));
            for entry in after.env.iter().flatten() {
                println!("env: {entry}");
            }
            let mut ok = rc == 0;
            for (name, code) in [("account", after.account), ("setcred", after.setcred)] {
                match code {
                    Some(-1) | None => {}
                    Some(code) => {
                        println!("{name}={code} {}", strerror(code));
                        ok &= code == 0;
                    }
                }
            }
            std::process::exit(if ok { 0 } else { 1 });
        }
        Some("chat") if args.len() >= 4 => {
            let flags = &args[4..];
            let data = AppData {
                answer: vec![],
                retry: None,
                attempt: Default::default(),
                transcript: Mutex::new(vec![]),
                chat: Some(Chat {
                    refuse_info: flags.iter().any(|f| f == "--no-info"),
                }),
            };
            let service = CString::new(args[2].as_str()).unwrap();
            let user = CString::new(args[3].as_str()).unwrap();
            let pam_flags = if flags.iter().any(|f| f == "--silent") {
                PAM_SILENT
            } else {
                0
            };
            let rc = authenticate_with(&service, &user, &data, pam_flags, &mut After::default());
            println!("result={rc} {}", strerror(rc));
            std::process::exit(if rc == 0 { 0 } else { 1 });
        }
        Some("bench") if args.len() == 8 => {
            let service = CString::new(args[2].as_str()).unwrap();
            let users: Vec<CString> = std::fs::read_to_string(&args[3])
                .expect("users file")
                .lines()
                .map(|u| CString::new(u).unwrap())
                .collect();
            let iterations: usize = args[4].parse().unwrap();
            let threads: usize = args[5].parse().unwrap();
            let secret = (args[6] == "--secret")
                .then(|| mfa_core::totp::Secret::from_base32(&args[7]).unwrap());
            let fixed = (args[6] == "--answer").then(|| args[7].clone().into_bytes());
            let rss_before = vm_rss_kib();
            let start = Instant::now();
            let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (service, users, secret, fixed) = (&service, &users, &secret, &fixed);
                        s.spawn(move || {
                            let mut times = Vec::with_capacity(iterations);
                            let mut ok = 0;
                            for i in 0..iterations {
                                let user = &users[(t * iterations + i) % users.len()];
                                let answer = match (secret, fixed) {
                                    (Some(sec), _) => current_code(sec).into_bytes(),
                                    (_, Some(a)) => a.clone(),
                                    _ => unreachable!(),
                                };
                                let data = AppData {
                                    answer,
                                    retry: None,
                                    attempt: Default::default(),
                                    transcript: Mutex::new(vec![]),
                                    chat: None,
                                };
                                let t0 = Instant::now();
                                let rc = authenticate(service, user, &data);
                                times.push(t0.elapsed());
                                ok += usize::from(rc == 0);
                            }
                            (times, ok)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let elapsed = start.elapsed().as_secs_f64();
            let mut all: Vec<Duration> = results
                .iter()
                .flat_map(|(t, _)| t.iter().copied())
                .collect();
            all.sort();
            let ok: usize = results.iter().map(|(_, o)| o).sum();
            println!(
                "logins={} ok={} seconds={:.3} per_second={:.1} median_us={:.1} p90_us={:.1} rss_before_kib={} rss_after_kib={}",
                all.len(),
                ok,
                elapsed,
                all.len() as f64 / elapsed,
                percentile(&all, 0.5),
                percentile(&all, 0.9),
                rss_before,
                vm_rss_kib()
            );
        }
        _ => {
            eprintln!("usage: pam_driver once SERVICE USER ANSWER_FILE [--again ANSWER_FILE] [--account] [--setcred] [--env] | chat SERVICE USER [--no-info] [--silent] | bench SERVICE USERS_FILE ITERATIONS THREADS (--secret B32 | --answer TEXT)");
            std::process::exit(2);
        }
    }
}

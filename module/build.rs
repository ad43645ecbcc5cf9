//! Links the unwinder into the module (libgcc_eh.a) instead of naming
//! libgcc_s.so.1 as a dependency.
//!
//! Why: libpam loads the module at every pam_start and unloads it at pam_end. Rust
//! names libgcc_s.so.1 for panic unwinding; sshd, sudo, login and su do not link
//! it, so each login mapped, relocated and unmapped a second library: about
//! 100 µs per login (tests/bench, C host). Statically linked, the unwinder costs
//! a few pages of the module's own mapping, and the guard in pam-bindings still
//! catches a panic: its unwinding never leaves the module.
//!
//! How: rustc passes `-lgcc_s`; a directory searched first holds a `libgcc_s.so`
//! that is a linker script pointing at the static unwinder (as `gcc
//! -static-libgcc` would link it). Checked by the packages suite (`NEEDED`).

use std::path::PathBuf;

fn main() {
    let dir =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("unwind");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/unwind");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh -lgcc)\n")
        .expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}

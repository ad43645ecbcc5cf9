//! The QR code as an image file (PNG or SVG), for sending to a phone user.
//!
//! Invariant: the file holds the key, so it is created with mode 0600 and never
//! through a symbolic link; dark modules on white, with the quiet zone.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;
use pam_mfa::qr::Matrix;

use crate::error::CliError;

/// Pixels per module in the PNG.
const SCALE: usize = 8;

fn create(path: &Path) -> Result<std::fs::File, CliError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(|e| CliError::WriteFile(path.to_owned(), e.to_string()))
}

/// Writes `m` as a grayscale PNG.
pub fn write_png(path: &Path, m: &Matrix) -> Result<(), CliError> {
    let err = |e: &dyn std::fmt::Display| CliError::WriteFile(path.to_owned(), e.to_string());
    let side = m.size * SCALE;
    let mut pixels = Vec::with_capacity(side * side);
    for y in 0..side {
        for x in 0..side {
            pixels.push(if m.is_dark(x / SCALE, y / SCALE) {
                0u8
            } else {
                255u8
            });
        }
    }
    let file = create(path)?;
    let side = u32::try_from(side).map_err(|e| err(&e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| err(&e))?;
    writer.write_image_data(&pixels).map_err(|e| err(&e))?;
    writer.finish().map_err(|e| err(&e))
}

/// Writes `m` as an SVG: one square per dark module on a white ground.
pub fn write_svg(path: &Path, m: &Matrix) -> Result<(), CliError> {
    let mut svg = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {n} {n}\" width=\"{w}\" height=\"{w}\" shape-rendering=\"crispEdges\">\n<rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
        n = m.size,
        w = m.size * SCALE
    );
    for y in 0..m.size {
        for x in 0..m.size {
            if m.is_dark(x, y) {
                svg.push_str(&format!("M{x} {y}h1v1h-1z"));
            }
        }
    }
    svg.push_str("\"/>\n</svg>\n");
    create(path)?
        .write_all(svg.as_bytes())
        .map_err(|e| CliError::WriteFile(path.to_owned(), e.to_string()))
}

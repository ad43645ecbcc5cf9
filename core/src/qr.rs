//! QR codes for enrollment: the symbol, drawn by qrcode's own renderers as terminal
//! text (`Dense1x2`) or SVG, and read module by module for the PNG.
//!
//! Invariant: every rendering is a faithful image of one symbol with a 4-module
//! quiet zone; the terminal text puts two module rows on a line with Unicode half
//! blocks and is always dark modules on a light ground: on a dark terminal the
//! light parts are drawn, on a light terminal the dark ones. Scanners read both.

use std::fmt;

use qrcode::render::{svg, unicode::Dense1x2};
use qrcode::{Color, EcLevel, QrCode};

/// The blank border scanners need around the symbol, in modules.
pub const QUIET_ZONE: usize = 4;

/// The terminal's background, which decides what is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Light text on a dark background (most terminals): light modules are drawn.
    Dark,
    /// Dark text on a light background: dark modules are drawn.
    Light,
}

/// Why no QR code was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QrError {
    /// The data does not fit in the largest QR code.
    TooLong,
    /// The encoder refused the data for another reason.
    Encoder(qrcode::types::QrError),
}

impl fmt::Display for QrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QrError::TooLong => f.write_str("cannot make a QR code: the data is too long"),
            QrError::Encoder(e) => write!(f, "cannot make a QR code: {e}"),
        }
    }
}

impl From<qrcode::types::QrError> for QrError {
    fn from(e: qrcode::types::QrError) -> Self {
        match e {
            qrcode::types::QrError::DataTooLong => QrError::TooLong,
            e => QrError::Encoder(e),
        }
    }
}

impl std::error::Error for QrError {}

/// An encoded QR symbol.
#[derive(Clone)]
pub struct Matrix {
    code: QrCode,
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matrix({0}x{0})", self.size())
    }
}

impl Matrix {
    /// Encodes `data` with error correction level M.
    pub fn encode(data: &[u8]) -> Result<Matrix, QrError> {
        let code = QrCode::with_error_correction_level(data, EcLevel::M)?;
        Ok(Matrix { code })
    }

    /// Modules across, the quiet zone included.
    pub fn size(&self) -> usize {
        self.code.width() + 2 * QUIET_ZONE
    }

    /// Whether the module at column `x`, row `y` (quiet zone included) is dark;
    /// outside the symbol is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let inner = self.code.width();
        match (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) {
            (Some(x), Some(y)) if x < inner && y < inner => self.code[(x, y)] == Color::Dark,
            _ => false,
        }
    }

    /// The symbol as lines of half-block characters for a terminal with `bg`.
    pub fn to_text(&self, bg: Background) -> String {
        // Dense1x2 draws the modules of its "dark" colour: make that the one the
        // terminal shows as ink.
        let (dark, light) = match bg {
            Background::Light => (Dense1x2::Dark, Dense1x2::Light),
            Background::Dark => (Dense1x2::Light, Dense1x2::Dark),
        };
        self.code
            .render::<Dense1x2>()
            .quiet_zone(true)
            .dark_color(dark)
            .light_color(light)
            .build()
    }

    /// The symbol as an SVG document, black on white, `scale` pixels per module.
    pub fn to_svg(&self, scale: u32) -> String {
        self.code
            .render::<svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(scale, scale)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads rendered text back into module colors, the way a camera would see it.
    fn read_back(text: &str, bg: Background) -> Vec<Vec<bool>> {
        let mut rows = vec![];
        for line in text.lines() {
            let (mut top, mut bottom) = (vec![], vec![]);
            for c in line.chars() {
                let (t, b) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    _ => (false, false),
                };
                // Drawn means dark on a light terminal, light on a dark one.
                top.push(t == (bg == Background::Light));
                bottom.push(b == (bg == Background::Light));
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    #[test]
    fn text_is_a_faithful_image_on_both_backgrounds() {
        let m = Matrix::encode(b"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").unwrap();
        for bg in [Background::Dark, Background::Light] {
            let text = m.to_text(bg);
            assert_eq!(text.lines().count(), m.size().div_ceil(2));
            assert!(text.lines().all(|l| l.chars().count() == m.size()));
            let modules = read_back(&text, bg);
            for (y, row) in modules.iter().take(m.size()).enumerate() {
                for (x, &dark) in row.iter().enumerate() {
                    assert_eq!(dark, m.is_dark(x, y), "({x},{y}) on {bg:?}");
                }
            }
        }
    }

    #[test]
    fn the_quiet_zone_is_light() {
        let m = Matrix::encode(b"hello").unwrap();
        let size = m.size();
        for i in 0..size {
            for q in 0..QUIET_ZONE {
                assert!(!m.is_dark(i, q) && !m.is_dark(q, i));
                assert!(!m.is_dark(i, size - 1 - q) && !m.is_dark(size - 1 - q, i));
            }
        }
        // The finder pattern's corner is dark.
        assert!(m.is_dark(QUIET_ZONE, QUIET_ZONE));
    }

    #[test]
    fn too_much_data_is_an_error() {
        assert!(matches!(
            Matrix::encode(&[b'x'; 5000]),
            Err(QrError::TooLong)
        ));
    }

    #[test]
    fn the_svg_draws_each_dark_module_as_a_square() {
        let m = Matrix::encode(b"hello").unwrap();
        let svg = m.to_svg(8);
        let side = m.size() * 8;
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")));
        assert!(svg.contains(r##"fill="#fff""##) && svg.contains(r##"fill="#000""##));
        let squares = svg.matches('M').count();
        let dark = (0..m.size())
            .flat_map(|y| (0..m.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| m.is_dark(x, y))
            .count();
        assert_eq!(squares, dark);
        // The finder pattern's corner, at the quiet zone's edge.
        let corner = QUIET_ZONE * 8;
        assert!(svg.contains(&format!("M{corner} {corner}h8v8H{corner}V{corner}")));
    }
}

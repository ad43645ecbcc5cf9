//! QR codes for enrollment: the module matrix, and its rendering as terminal text.
//!
//! Invariant: the text rendering is a faithful image of the matrix with a 4-module
//! quiet zone, two module rows per line with Unicode half blocks, and the rendered
//! image is always dark modules on a light ground: on a dark terminal the light parts
//! are drawn, on a light terminal the dark ones. Scanners read both.

use std::fmt;

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

/// A square matrix of modules, `true` for dark, including the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub size: usize,
    dark: Vec<bool>,
}

impl Matrix {
    /// Encodes `data` with error correction level M.
    pub fn encode(data: &[u8]) -> Result<Matrix, QrError> {
        let code = QrCode::with_error_correction_level(data, EcLevel::M)?;
        let inner = code.width();
        let size = inner + 2 * QUIET_ZONE;
        let colors = code.to_colors();
        let mut dark = vec![false; size * size];
        for (i, c) in colors.iter().enumerate() {
            let (x, y) = (i % inner + QUIET_ZONE, i / inner + QUIET_ZONE);
            if let Some(cell) = dark.get_mut(y * size + x) {
                *cell = *c == Color::Dark;
            }
        }
        Ok(Matrix { size, dark })
    }

    /// Whether the module at column `x`, row `y` is dark; outside is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark.get(y * self.size + x).copied().unwrap_or(false)
    }

    /// The matrix as lines of half-block characters for a terminal with `bg`.
    pub fn to_text(&self, bg: Background) -> Vec<String> {
        let drawn = |x, y| self.is_dark(x, y) == (bg == Background::Light);
        (0..self.size)
            .step_by(2)
            .map(|y| {
                (0..self.size)
                    .map(
                        |x| match (drawn(x, y), y + 1 < self.size && drawn(x, y + 1)) {
                            (true, true) => '█',
                            (true, false) => '▀',
                            (false, true) => '▄',
                            (false, false) => ' ',
                        },
                    )
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads rendered text back into module colors, the way a camera would see it.
    fn read_back(lines: &[String], bg: Background) -> Vec<Vec<bool>> {
        let mut rows = vec![];
        for line in lines {
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
            let lines = m.to_text(bg);
            assert_eq!(lines.len(), m.size.div_ceil(2));
            assert!(lines.iter().all(|l| l.chars().count() == m.size));
            let modules = read_back(&lines, bg);
            for (y, row) in modules.iter().take(m.size).enumerate() {
                for (x, &dark) in row.iter().enumerate() {
                    assert_eq!(dark, m.is_dark(x, y), "({x},{y}) on {bg:?}");
                }
            }
        }
    }

    #[test]
    fn the_quiet_zone_is_light() {
        let m = Matrix::encode(b"hello").unwrap();
        for i in 0..m.size {
            for q in 0..QUIET_ZONE {
                assert!(!m.is_dark(i, q) && !m.is_dark(q, i));
                assert!(!m.is_dark(i, m.size - 1 - q) && !m.is_dark(m.size - 1 - q, i));
            }
        }
        // The finder pattern's corner is dark.
        assert!(m.is_dark(QUIET_ZONE, QUIET_ZONE));
    }

    #[test]
    fn too_much_data_is_an_error() {
        assert_eq!(Matrix::encode(&[b'x'; 5000]), Err(QrError::TooLong));
    }
}

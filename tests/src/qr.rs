//! Reading QR codes back with an independent decoder (rqrr).

use std::fs;
use std::path::Path;

/// Decodes the first QR code in a greyscale image given by `pixel(x, y)` (0 black,
/// 255 white) with rqrr, an independent decoder.
pub fn decode_qr(w: usize, h: usize, pixel: impl FnMut(usize, usize) -> u8) -> String {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, pixel);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code");
    grids[0].decode().expect("QR code decodes").1
}

/// Reads half-block terminal art back into modules and decodes it: a drawn half
/// is light on a dark terminal (`dark_terminal`) and dark on a light one.
pub fn decode_terminal_qr(lines: &[&str], dark_terminal: bool) -> String {
    const SCALE: usize = 4;
    let mut modules: Vec<Vec<bool>> = vec![];
    for line in lines {
        let (mut top, mut bottom) = (vec![], vec![]);
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in the QR code"),
            };
            top.push(t != dark_terminal);
            bottom.push(b != dark_terminal);
        }
        modules.push(top);
        modules.push(bottom);
    }
    let w = modules.iter().map(Vec::len).max().unwrap_or(0);
    let h = modules.len();
    // A light margin, as the terminal background around the art would be.
    let margin = 4;
    decode_qr(
        (w + 2 * margin) * SCALE,
        (h + 2 * margin) * SCALE,
        |x, y| {
            let (mx, my) = (
                (x / SCALE).wrapping_sub(margin),
                (y / SCALE).wrapping_sub(margin),
            );
            let dark = modules
                .get(my)
                .and_then(|r| r.get(mx))
                .copied()
                .unwrap_or(false);
            if dark {
                0
            } else {
                255
            }
        },
    )
}

/// Decodes a PNG file's QR code.
pub fn decode_png_qr(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    decode_qr(w, h, |x, y| buf[y * info.line_size + x])
}

/// Decodes the QR code of an SVG as mfa-token writes it (qrcode's renderer): a
/// white ground and one path of `M{x} {y}h{w}v{h}H{x}V{y}` squares, rasterized here.
pub fn decode_svg_qr(svg: &str) -> String {
    let view_box = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("an SVG with a viewBox");
    let side: usize = view_box.parse().unwrap();
    let d = svg
        .split("fill=\"#000\" d=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a black path");
    let mut dark = vec![false; side * side];
    for square in d.split('M').skip(1) {
        let n: Vec<usize> = square
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let [x, y, w, h, ..] = n[..] else {
            panic!("unexpected path segment {square:?}")
        };
        for row in y..y + h {
            for col in x..x + w {
                dark[row * side + col] = true;
            }
        }
    }
    decode_qr(side, side, |x, y| if dark[y * side + x] { 0 } else { 255 })
}

//! The QR code as an image file (PNG or SVG), for sending to a phone user.
//!
//! Invariant: the file holds the key, so it is only ever a new file: created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600, owned by whoever runs the command
//! (root). An existing path of any kind (file, symbolic link, dangling link, FIFO)
//! is refused, never written through or overwritten. Images of an enrollment that
//! is not saved are removed again ([`Images`] does that on drop unless kept).

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mfa_core::i18n::{self, Lang, Msg};
use mfa_core::qr::Matrix;
use nix::fcntl::OFlag;

use crate::error::CliError;

/// Pixels per module in the PNG.
const SCALE: usize = 8;

/// Refuses `path` if anything exists there, a dangling symbolic link included.
/// Called before the key is made or read, so a refusal comes before anything else;
/// [`Images`] still creates with `O_EXCL`, which closes the race.
pub fn check_new(path: &Path) -> Result<(), CliError> {
    match path.symlink_metadata() {
        Ok(_) => Err(CliError::FileExists(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::WriteFile(path.to_owned(), e.to_string())),
    }
}

/// The image files written for one enrollment. Dropped without [`Images::keep`],
/// they are removed again (nothing was enrolled, so nobody needs the key).
pub struct Images {
    lang: Lang,
    /// Each file created, with its device and inode: only that file is removed,
    /// not something put in its place since.
    created: Vec<(PathBuf, u64, u64)>,
}

impl Images {
    pub fn new(lang: Lang) -> Images {
        Images {
            lang,
            created: Vec::new(),
        }
    }

    /// The enrollment was saved: the files stay.
    pub fn keep(mut self) {
        self.created.clear();
    }

    fn create(&mut self, path: &Path) -> Result<File, CliError> {
        let err = |e: std::io::Error| CliError::WriteFile(path.to_owned(), e.to_string());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => CliError::FileExists(path.to_owned()),
                _ => err(e),
            })?;
        let meta = file.metadata().map_err(err)?;
        self.created.push((path.to_owned(), meta.dev(), meta.ino()));
        // The umask can only take bits away; make it exactly 0600 so the owner can
        // read what was written for them.
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(err)?;
        Ok(file)
    }

    /// Writes `m` as a grayscale PNG to the new file `path`.
    pub fn write_png(&mut self, path: &Path, m: &Matrix) -> Result<(), CliError> {
        let err = |e: &dyn std::fmt::Display| CliError::WriteFile(path.to_owned(), e.to_string());
        let side = m.size() * SCALE;
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
        let side = u32::try_from(side).map_err(|e| err(&e))?;
        let file = self.create(path)?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| err(&e))?;
        writer.write_image_data(&pixels).map_err(|e| err(&e))?;
        writer.finish().map_err(|e| err(&e))
    }

    /// Writes `m` as an SVG to the new file `path`: black modules on a white ground.
    pub fn write_svg(&mut self, path: &Path, m: &Matrix) -> Result<(), CliError> {
        self.create(path)?
            .write_all(m.to_svg(SCALE as u32).as_bytes())
            .map_err(|e| CliError::WriteFile(path.to_owned(), e.to_string()))
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for (path, dev, ino) in self.created.drain(..) {
            let ours = path
                .symlink_metadata()
                .is_ok_and(|m| m.dev() == dev && m.ino() == ino);
            if ours && std::fs::remove_file(&path).is_ok() {
                eprintln!(
                    "{}",
                    i18n::format(self.lang, Msg::QrRemoved, &[&path.display()])
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh private directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let d =
                std::env::temp_dir().join(format!("mfa-token-test-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir(&d).unwrap();
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn matrix() -> Matrix {
        Matrix::encode(b"otpauth://totp/x:y?secret=JBSWY3DPEHPK3PXP").unwrap()
    }

    #[test]
    fn existing_files_and_symlinks_dangling_or_not_are_refused_and_untouched() {
        let d = Dir::new("exists");
        let file = d.0.join("file.png");
        std::fs::write(&file, b"precious").unwrap();
        let dangling = d.0.join("dangling.svg");
        std::os::unix::fs::symlink(d.0.join("nowhere"), &dangling).unwrap();
        for path in [&file, &dangling] {
            assert!(matches!(check_new(path), Err(CliError::FileExists(_))));
            let mut images = Images::new(Lang::En);
            assert!(matches!(
                images.write_png(path, &matrix()),
                Err(CliError::FileExists(_))
            ));
            assert!(matches!(
                images.write_svg(path, &matrix()),
                Err(CliError::FileExists(_))
            ));
        }
        assert_eq!(std::fs::read(&file).unwrap(), b"precious");
        assert!(!d.0.join("nowhere").exists(), "nothing written through");
        assert!(check_new(&d.0.join("new.png")).is_ok());
    }

    #[test]
    fn new_files_are_0600_and_removed_unless_kept() {
        let d = Dir::new("new");
        let (png, svg) = (d.0.join("qr.png"), d.0.join("qr.svg"));
        let mut images = Images::new(Lang::En);
        images.write_png(&png, &matrix()).unwrap();
        images.write_svg(&svg, &matrix()).unwrap();
        for f in [&png, &svg] {
            assert_eq!(std::fs::metadata(f).unwrap().mode() & 0o7777, 0o600);
        }
        drop(images);
        assert!(!png.exists() && !svg.exists(), "not kept: removed");

        let mut images = Images::new(Lang::En);
        images.write_svg(&svg, &matrix()).unwrap();
        images.keep();
        assert!(svg.exists(), "kept");
    }

    #[test]
    fn a_file_put_in_the_place_of_ours_is_not_removed() {
        let d = Dir::new("swapped");
        let png = d.0.join("qr.png");
        let mut images = Images::new(Lang::En);
        images.write_png(&png, &matrix()).unwrap();
        // Renamed, not removed: a freed inode number could be handed out again.
        std::fs::rename(&png, d.0.join("moved.png")).unwrap();
        std::fs::write(&png, b"someone else's").unwrap();
        drop(images);
        assert_eq!(std::fs::read(&png).unwrap(), b"someone else's");
    }
}

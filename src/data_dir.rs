//! The data directory is the server's alone: it holds the database (password hashes, messages),
//! the signing keys and the uploaded files. It is made (or tightened) to `0700`, and the
//! database file, with its write-ahead log and shared-memory file, to `0600`, before anything
//! is written; SQLite gives the files it creates beside the database the database's mode.

use std::io;
use std::path::Path;

/// Creates `dir` (and `keys/`, `files/` in it) and `dir/chat.db`, or tightens them when they
/// exist, so that no other user of the machine can read them.
pub fn prepare(dir: &Path) -> io::Result<()> {
    for sub in [dir.to_path_buf(), dir.join("keys"), dir.join("files")] {
        std::fs::create_dir_all(&sub)?;
        restrict(&sub, 0o700)?;
    }
    let db = dir.join("chat.db");
    if !db.exists() {
        create_private(&db)?;
    }
    for file in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        let path = dir.join(file);
        if path.exists() {
            restrict(&path, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<()> {
    std::fs::File::create(path).map(drop)
}

//! Secrets at rest: credentials and sessions sealed with an AEAD.
//!
//! XChaCha20-Poly1305 under a 256-bit master key, a random 192-bit nonce per
//! seal, and the owner's id (the connection id) as associated data, so a
//! sealed value cannot be moved to another connection. The sealed form is
//! `sy1.<key id>.<base64url(nonce ‖ ciphertext)>`; the key id lets several
//! keys coexist during a rotation (see `docs/secrets.md`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::path::Path;

const PREFIX: &str = "sy1";
const NONCE_BYTES: usize = 24;

/// A vault failure. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key is malformed.
    #[error("master key: {0}")]
    InvalidKey(String),
    /// A sealed value was sealed under a key this vault does not hold.
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// A sealed value is malformed or was tampered with.
    #[error("sealed value is corrupt or was not sealed for this owner")]
    Corrupt,
    /// Reading or creating the key file failed.
    #[error("master key file: {0}")]
    Io(#[from] std::io::Error),
}

struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// Seals and opens secrets with the configured master keys.
pub struct Vault {
    /// The first key seals; all of them open.
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Vault").field("key_ids", &ids).finish()
    }
}

impl Vault {
    /// A vault from a key specification: comma-separated base64 keys of 32
    /// bytes, the first one sealing (`NEW,OLD` during a rotation).
    pub fn from_spec(spec: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bytes = STANDARD
                .decode(part)
                .map_err(|_| VaultError::InvalidKey("not base64".into()))?;
            if bytes.len() != 32 {
                return Err(VaultError::InvalidKey(format!(
                    "a key must be 32 bytes, found {}",
                    bytes.len()
                )));
            }
            let id = hex::encode(&Sha256::digest(&bytes)[..4]);
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| VaultError::InvalidKey("bad length".into()))?;
            keys.push(MasterKey { id, cipher });
        }
        if keys.is_empty() {
            return Err(VaultError::InvalidKey("no key given".into()));
        }
        Ok(Vault { keys })
    }

    /// The vault for a data directory: the key specification from `env_spec`
    /// (the `SWITCHYARD_MASTER_KEY` variable) when given, otherwise from
    /// `<data_dir>/master.key`, created with a fresh random key (mode 0600)
    /// on first start.
    pub fn open_or_create(data_dir: &Path, env_spec: Option<&str>) -> Result<Self, VaultError> {
        if let Some(spec) = env_spec.filter(|s| !s.trim().is_empty()) {
            return Self::from_spec(spec);
        }
        let path = data_dir.join("master.key");
        if !path.exists() {
            std::fs::create_dir_all(data_dir)?;
            let key = STANDARD.encode(random_bytes::<32>());
            write_private(&path, format!("{key}\n").as_bytes())?;
            tracing::info!(path = %path.display(), "created a new master key");
        }
        Self::from_spec(&std::fs::read_to_string(&path)?)
    }

    /// Generates a new key specification (one base64 key).
    pub fn generate_key() -> String {
        STANDARD.encode(random_bytes::<32>())
    }

    /// The id of the sealing key.
    pub fn primary_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` for `owner`.
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> String {
        let key = &self.keys[0];
        let nonce_bytes = random_bytes::<NONCE_BYTES>();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ciphertext = key
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut body = nonce_bytes.to_vec();
        body.extend_from_slice(&ciphertext);
        format!("{PREFIX}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a value sealed for `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Vec<u8>, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Corrupt);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_string()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Corrupt)?;
        if body.len() < NONCE_BYTES {
            return Err(VaultError::Corrupt);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_BYTES);
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt)
    }

    /// Whether `sealed` was sealed under the current sealing key.
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .split('.')
            .nth(1)
            .is_some_and(|id| id == self.primary_key_id())
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_for_the_same_owner_only() {
        let vault = Vault::from_spec(&Vault::generate_key()).unwrap();
        let sealed = vault.seal("conn_a", b"hunter22");
        assert!(!sealed.contains("hunter22"));
        assert_eq!(vault.open("conn_a", &sealed).unwrap(), b"hunter22");
        assert!(matches!(
            vault.open("conn_b", &sealed),
            Err(VaultError::Corrupt)
        ));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open("conn_a", &tampered).is_err());
        assert_ne!(vault.seal("conn_a", b"x"), vault.seal("conn_a", b"x"));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old_key = Vault::generate_key();
        let old = Vault::from_spec(&old_key).unwrap();
        let sealed = old.seal("c", b"secret");
        let rotated = Vault::from_spec(&format!("{},{old_key}", Vault::generate_key())).unwrap();
        assert_eq!(rotated.open("c", &sealed).unwrap(), b"secret");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("c", b"secret")));
        let stranger = Vault::from_spec(&Vault::generate_key()).unwrap();
        assert!(matches!(
            stranger.open("c", &sealed),
            Err(VaultError::UnknownKey(_))
        ));
    }

    #[test]
    fn creates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vault::open_or_create(dir.path(), None).unwrap();
        let second = Vault::open_or_create(dir.path(), None).unwrap();
        assert_eq!(first.primary_key_id(), second.primary_key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Vault::from_spec("short").is_err());
    }
}

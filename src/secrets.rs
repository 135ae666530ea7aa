//! Secret references, resolved only while applying.
//!
//! Values live in [`SecretString`]s, are exposed only while a request is built, and never reach
//! plans, state, history, logs or error messages: errors name the reference (`env:NAME`), never
//! the value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use secrecy::SecretString;

use crate::core::secret_ref_text;
use crate::model::SecretRef;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {reference} cannot be read: {reason}")]
pub struct SecretError {
    /// `env:NAME` or `file:PATH`.
    pub reference: String,
    pub reason: String,
}

/// Resolves secret references, caching each value for the run.
pub struct Secrets {
    base: PathBuf,
    /// In the sandbox a missing reference gets a generated stand-in (the simulated vendors accept
    /// any password), so a fresh machine needs no secrets at all.
    sandbox: bool,
    cache: Mutex<BTreeMap<String, SecretString>>,
}

impl Secrets {
    /// `base`: the manifest directory, against which `file:` references are resolved.
    pub fn new(base: impl Into<PathBuf>, sandbox: bool) -> Self {
        Secrets { base: base.into(), sandbox, cache: Mutex::new(BTreeMap::new()) }
    }

    /// Known values for some references (the sandbox's own credentials), by reference text
    /// (`env:NAME`); they win over the environment.
    pub fn with_values(self, values: BTreeMap<String, String>) -> Self {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (k, v) in values {
                cache.insert(k, SecretString::from(v));
            }
        }
        self
    }

    pub fn resolve(&self, r: &SecretRef) -> Result<SecretString, SecretError> {
        let reference = secret_ref_text(r);
        if let Some(v) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&reference) {
            return Ok(v.clone());
        }
        let value = match self.read(r) {
            Ok(v) => v,
            Err(reason) if self.sandbox => {
                tracing::info!(secret = %reference, "sandbox: {reason}; using a generated stand-in");
                sandbox_value(&reference)
            }
            Err(reason) => return Err(SecretError { reference, reason }),
        };
        let secret = SecretString::from(value);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(reference, secret.clone());
        Ok(secret)
    }

    fn read(&self, r: &SecretRef) -> Result<String, String> {
        match r {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(std::env::VarError::NotPresent) => Err(format!("environment variable {name} is not set")),
                Err(std::env::VarError::NotUnicode(_)) => Err(format!("environment variable {name} is not valid text")),
            },
            SecretRef::File(path) => {
                let full = self.base.join(path);
                match std::fs::read_to_string(&full) {
                    Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                    Ok(_) => Err(format!("{} is empty", full.display())),
                    Err(e) => Err(format!("{}: {e}", full.display())),
                }
            }
        }
    }
}

/// A stand-in that satisfies every vendor's password rules (length, classes), derived from the
/// reference so repeated runs agree.
fn sandbox_value(reference: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(reference.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("Sandbox-{hex}-Aa1!")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn errors_name_the_reference_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "  s3cret-value \n").unwrap();
        let s = Secrets::new(dir.path(), false);
        assert_eq!(s.resolve(&SecretRef::File("pw".into())).unwrap().expose_secret(), "s3cret-value");
        let err = s.resolve(&SecretRef::Env("TENANTRY_TEST_SURELY_UNSET".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret env:TENANTRY_TEST_SURELY_UNSET cannot be read: environment variable TENANTRY_TEST_SURELY_UNSET is not set"
        );
        let sandbox = Secrets::new(dir.path(), true);
        let stand_in = sandbox.resolve(&SecretRef::Env("TENANTRY_TEST_SURELY_UNSET".into())).unwrap();
        assert!(stand_in.expose_secret().len() >= 12);
    }
}

//! `private_key_jwt` client authentication (RFC 7523 §2.2): a short-lived JWT naming the
//! client as issuer and subject and the authorization server as audience, signed with the
//! client's key (ES256 or RS256) by `ring`, which the TLS stack already brings.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};

/// How long an assertion is valid.
const LIFETIME_SECONDS: u64 = 300;

/// Why no assertion could be made (never quotes the key).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the private key is not PEM (expected -----BEGIN PRIVATE KEY-----)")]
    NotPem,
    #[error("the private key is not a PKCS#8 {0} key")]
    WrongKey(&'static str),
    #[error("unsupported signing algorithm `{0}` (ES256 or RS256)")]
    Algorithm(String),
    #[error("signing failed")]
    Signing,
}

/// A signed client assertion for `client_id` at `audience`.
pub fn client_assertion(
    private_key_pem: &str,
    algorithm: &str,
    client_id: &str,
    audience: &str,
    now_epoch_seconds: u64,
) -> Result<String, JwtError> {
    let der = pem_body(private_key_pem)?;
    let rng = SystemRandom::new();
    let mut jti = [0u8; 16];
    rng.fill(&mut jti).map_err(|_| JwtError::Signing)?;
    let header = serde_json::json!({"alg": algorithm, "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now_epoch_seconds,
        "exp": now_epoch_seconds + LIFETIME_SECONDS,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match algorithm {
        "ES256" => {
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                .map_err(|_| JwtError::WrongKey("P-256 EC"))?;
            key.sign(&rng, signing_input.as_bytes())
                .map_err(|_| JwtError::Signing)?
                .as_ref()
                .to_vec()
        }
        "RS256" => {
            let key = RsaKeyPair::from_pkcs8(&der).map_err(|_| JwtError::WrongKey("RSA"))?;
            let mut signature = vec![0; key.public().modulus_len()];
            key.sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| JwtError::Signing)?;
            signature
        }
        other => return Err(JwtError::Algorithm(other.to_owned())),
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The DER bytes between a PEM's BEGIN and END lines.
fn pem_body(pem: &str) -> Result<Vec<u8>, JwtError> {
    let mut inside = false;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN") {
            inside = true;
        } else if line.starts_with("-----END") {
            break;
        } else if inside {
            body.push_str(line);
        }
    }
    if body.is_empty() {
        return Err(JwtError::NotPem);
    }
    STANDARD.decode(body).map_err(|_| JwtError::NotPem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

    fn es256_key() -> (String, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        (pem, key.public_key().as_ref().to_vec())
    }

    #[test]
    fn an_es256_assertion_verifies_and_names_the_client() {
        let (pem, public) = es256_key();
        let jwt = client_assertion(&pem, "ES256", "client-1", "https://as.example", 1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://as.example");
        assert_eq!(claims["exp"], 1_300);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the public key");
    }

    /// RS256 with a key from `openssl` (which `scripts/test` requires): ring cannot make RSA
    /// keys, only use them.
    #[test]
    fn an_rs256_assertion_verifies_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success());
        let pem = std::fs::read_to_string(&key).unwrap();
        let jwt = client_assertion(&pem, "RS256", "client-1", "https://as.example", 5).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let pair = RsaKeyPair::from_pkcs8(&pem_body(&pem).unwrap()).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public().as_ref(),
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the signature verifies with the public key");
    }

    #[test]
    fn a_bad_key_is_refused_without_quoting_it() {
        let error = client_assertion("secret-material", "ES256", "c", "a", 0).unwrap_err();
        assert!(!error.to_string().contains("secret-material"));
        let (pem, _) = es256_key();
        assert!(matches!(
            client_assertion(&pem, "RS256", "c", "a", 0),
            Err(JwtError::WrongKey("RSA"))
        ));
    }
}

#pragma once
// AES-256-GCM (12-byte nonce, 16-byte tag) through BoringSSL's EVP_AEAD C API: the BoringSSL
// that swift-crypto builds and links. Called directly, not through swift-crypto's Swift API,
// because that API brings FoundationEssentials' Data and a dozen generic instantiations to every
// `run`: about 0.2 ms of a launch, for a few microseconds of cipher work.
#include <stddef.h>
#include <stdint.h>

enum { AEAD_KEY_BYTES = 32, AEAD_NONCE_BYTES = 12, AEAD_TAG_BYTES = 16 };

/// Encrypts `plain` and authenticates it with `ad`: writes ciphertext || tag
/// (plain_len + AEAD_TAG_BYTES bytes) to `out`. Returns 0, or -1 on failure.
int aead_seal_aes256gcm(const uint8_t *key, const uint8_t *nonce, const uint8_t *plain, size_t plain_len,
                      const uint8_t *ad, size_t ad_len, uint8_t *out);

/// Checks the tag over `sealed` (ciphertext || tag) and `ad`, and only then writes the plaintext
/// (sealed_len - AEAD_TAG_BYTES bytes) to `out`. Returns 0, or -1 if authentication fails:
/// `out` is then all zeros, never partial plaintext.
int aead_open_aes256gcm(const uint8_t *key, const uint8_t *nonce, const uint8_t *sealed, size_t sealed_len,
                      const uint8_t *ad, size_t ad_len, uint8_t *out);

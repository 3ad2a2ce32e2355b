#include "CSealing.h"

#include <CCryptoBoringSSL_aead.h>
#include <CCryptoBoringSSL_mem.h>

// A context on the stack, wiped afterwards: it holds the expanded key.
static int with_context(const uint8_t *key, int (*body)(EVP_AEAD_CTX *, void *), void *arguments) {
    EVP_AEAD_CTX context;
    if (!EVP_AEAD_CTX_init(&context, EVP_aead_aes_256_gcm(), key, AEAD_KEY_BYTES, AEAD_TAG_BYTES, NULL))
        return -1;
    int status = body(&context, arguments);
    EVP_AEAD_CTX_cleanup(&context);
    OPENSSL_cleanse(&context, sizeof context);
    return status;
}

struct call {
    const uint8_t *nonce, *in, *ad;
    size_t in_len, ad_len;
    uint8_t *out;
};

static int seal(EVP_AEAD_CTX *context, void *arguments) {
    struct call *c = arguments;
    size_t written = 0, capacity = c->in_len + AEAD_TAG_BYTES;
    int ok = EVP_AEAD_CTX_seal(context, c->out, &written, capacity, c->nonce, AEAD_NONCE_BYTES, c->in, c->in_len,
                               c->ad, c->ad_len);
    return ok && written == capacity ? 0 : -1;
}

static int open(EVP_AEAD_CTX *context, void *arguments) {
    struct call *c = arguments;
    size_t written = 0, capacity = c->in_len - AEAD_TAG_BYTES;
    int ok = EVP_AEAD_CTX_open(context, c->out, &written, capacity, c->nonce, AEAD_NONCE_BYTES, c->in, c->in_len,
                               c->ad, c->ad_len);
    return ok && written == capacity ? 0 : -1;
}

int aead_seal_aes256gcm(const uint8_t *key, const uint8_t *nonce, const uint8_t *plain, size_t plain_len,
                      const uint8_t *ad, size_t ad_len, uint8_t *out) {
    struct call c = {nonce, plain, ad, plain_len, ad_len, out};
    return with_context(key, seal, &c);
}

int aead_open_aes256gcm(const uint8_t *key, const uint8_t *nonce, const uint8_t *sealed, size_t sealed_len,
                      const uint8_t *ad, size_t ad_len, uint8_t *out) {
    if (sealed_len < AEAD_TAG_BYTES) return -1;
    struct call c = {nonce, sealed, ad, sealed_len, ad_len, out};
    return with_context(key, open, &c);
}

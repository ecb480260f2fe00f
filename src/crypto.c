/* Random ids, token hashing and signed links, all by libsodium. */
#include "crypto.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void crypto_new_id(char out[ID_SIZE])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, ID_SIZE, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int crypto_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || n >= ID_LEN)
            return 0;
    }
    return n == ID_LEN;
}

void crypto_new_token(char out[TOKEN_SIZE])
{
    unsigned char raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, TOKEN_SIZE, "ops_%s", b64);
}

void crypto_hash_text(const char *text, char out[HASH_HEX_SIZE])
{
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof h, (const unsigned char *)text,
                       strlen(text), NULL, 0);
    sodium_bin2hex(out, HASH_HEX_SIZE, h, sizeof h);
}

void crypto_new_secret(char out[HASH_HEX_SIZE])
{
    unsigned char raw[SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, HASH_HEX_SIZE, raw, sizeof raw);
}

/* HMAC-SHA256 of "name.number" under a hex key: 0, or -1 for a key that
 * is not 32 bytes of hex or a name too long. */
static int hmac_named(const char *secret_hex, const char *name, int64_t number,
                      unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    size_t keylen = 0;
    if (sodium_hex2bin(key, sizeof key, secret_hex, strlen(secret_hex), NULL,
                       &keylen, NULL) != 0 || keylen != sizeof key)
        return -1;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s.%lld", name, (long long)number);
    if (n >= 0 && (size_t)n < sizeof msg)
        crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (size_t)n, key);
    sodium_memzero(key, sizeof key);
    return (n < 0 || (size_t)n >= sizeof msg) ? -1 : 0;
}

int crypto_owner_key(const char *secret_hex, const char *owner, int64_t epoch,
                     char out[HASH_HEX_SIZE])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    if (hmac_named(secret_hex, owner, epoch, mac) != 0)
        return -1;
    sodium_bin2hex(out, HASH_HEX_SIZE, mac, sizeof mac);
    return 0;
}

int crypto_sign_link(const char *secret_hex, const char *run_id, int64_t exp,
                     char out[SIG_SIZE])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    if (hmac_named(secret_hex, run_id, exp, mac) != 0)
        return -1;
    sodium_bin2base64(out, SIG_SIZE, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

static int same_sig(const char *want, const char *sig)
{
    size_t n = strlen(want);
    if (strlen(sig) != n)
        return -1;
    return sodium_memcmp(want, sig, n) == 0 ? 0 : -1;
}

int crypto_verify_link(const char *secret_hex, const char *run_id, int64_t exp,
                       const char *sig)
{
    char want[SIG_SIZE];
    if (crypto_sign_link(secret_hex, run_id, exp, want) != 0)
        return -1;
    return same_sig(want, sig);
}

int crypto_sign_producer(const char *secret_hex, const char *run_id, char out[SIG_SIZE])
{
    char name[ID_SIZE + 16];
    int n = snprintf(name, sizeof name, "publish:%s", run_id);
    if (n < 0 || (size_t)n >= sizeof name)
        return -1;
    return crypto_sign_link(secret_hex, name, 0, out);
}

int crypto_verify_producer(const char *secret_hex, const char *run_id, const char *sig)
{
    char want[SIG_SIZE];
    if (crypto_sign_producer(secret_hex, run_id, want) != 0)
        return -1;
    return same_sig(want, sig);
}

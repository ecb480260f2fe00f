#ifndef OPSTREAM_CRYPTO_H
#define OPSTREAM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* 128 random bits, URL-safe base64 without padding: 22 characters. */
#define ID_LEN 22
#define ID_SIZE (ID_LEN + 1)
/* API tokens: 256 random bits with a readable prefix. */
#define TOKEN_SIZE 64
/* Hex of a 32-byte hash. */
#define HASH_HEX_SIZE 65
#define SECRET_BYTES 32
#define SIG_SIZE 48

int crypto_init(void);
void crypto_new_id(char out[ID_SIZE]);
int crypto_id_valid(const char *s);
void crypto_new_token(char out[TOKEN_SIZE]);
/* A hex digest of a text: tokens are stored only as this, and request
 * bodies are compared by it. */
void crypto_hash_text(const char *text, char out[HASH_HEX_SIZE]);
void crypto_new_secret(char out[HASH_HEX_SIZE]);
/* The key that signs one owner's links: HMAC-SHA256 of "owner.epoch"
 * under the stack's link secret, as hex. Revoking a credential of the
 * owner moves the epoch, and every link made before stops verifying. */
int crypto_owner_key(const char *secret_hex, const char *owner, int64_t epoch,
                     char out[HASH_HEX_SIZE]);
/* HMAC-SHA256 over "run_id.expiry", URL-safe base64. */
int crypto_sign_link(const char *secret_hex, const char *run_id, int64_t exp,
                     char out[SIG_SIZE]);
int crypto_verify_link(const char *secret_hex, const char *run_id, int64_t exp,
                       const char *sig);
/* A run's producer signature: HMAC-SHA256 over "publish:run_id.0", which
 * no link signs (a run id has no ':'), URL-safe base64. */
int crypto_sign_producer(const char *secret_hex, const char *run_id, char out[SIG_SIZE]);
int crypto_verify_producer(const char *secret_hex, const char *run_id, const char *sig);

#endif

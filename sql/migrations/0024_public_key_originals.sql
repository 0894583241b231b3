-- 0024: public-key originals mode and a tamper-evident reveal audit
-- (issue 17, sections 1 and 4; what runs now: sql/definitions/15_public_key.sql
-- and 70_reveal.sql).
--
-- public_keys   the PGP public keys the originals are encrypted to. None: the
--               symmetric mode (a data key in loginvault.keys). One or more:
--               the public-key mode; the newest one not retired encrypts.
--               The private keys are never in the database.
-- wrapped_keys  one row per processing batch (or quarantined message) in the
--               public-key mode: the batch's random data key, stored ONLY as
--               pgp_pub_encrypt under a public key. Its key_id comes from
--               loginvault.keys' identity sequence, so a key_id in
--               user_login_originals / rejected_logins names exactly one key,
--               symmetric (keys) or wrapped (wrapped_keys).
-- reveal_audit  gains reason, chain_seq, prev_hash and row_hash: each row is
--               chained to its predecessor by sha256 (10_keys / 70_reveal).

CREATE TABLE IF NOT EXISTS loginvault.public_keys (
  public_key_id integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_bytes     bytea       NOT NULL,            -- dearmored OpenPGP public key
  pgp_key_id    text        NOT NULL,            -- pgp_key_id(key_bytes)
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    name        NOT NULL DEFAULT session_user,
  retired_at    timestamptz                      -- set once a newer key pair has taken over
);
COMMENT ON TABLE loginvault.public_keys IS
  'PGP public keys the originals are encrypted to (public-key mode). Empty: symmetric mode. Private keys are never stored.';
REVOKE ALL ON loginvault.public_keys FROM PUBLIC;

CREATE TABLE IF NOT EXISTS loginvault.wrapped_keys (
  key_id        integer     PRIMARY KEY,         -- from loginvault.keys' identity sequence
  public_key_id integer     NOT NULL REFERENCES loginvault.public_keys,
  wrapped_key   bytea       NOT NULL,            -- pgp_pub_encrypt(the batch's passphrase)
  created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE loginvault.wrapped_keys IS
  'Public-key mode: each batch''s random data key, encrypted to a public key only (the plain key is never stored).';
REVOKE ALL ON loginvault.wrapped_keys FROM PUBLIC;

ALTER TABLE loginvault.reveal_audit
  ADD COLUMN IF NOT EXISTS reason    text,
  ADD COLUMN IF NOT EXISTS chain_seq bigint,
  ADD COLUMN IF NOT EXISTS prev_hash bytea,
  ADD COLUMN IF NOT EXISTS row_hash  bytea;
CREATE UNIQUE INDEX IF NOT EXISTS reveal_audit_chain_seq ON loginvault.reveal_audit (chain_seq);
COMMENT ON COLUMN loginvault.reveal_audit.reason IS 'Why the PII admin revealed the row (required since 0024).';
COMMENT ON COLUMN loginvault.reveal_audit.chain_seq IS 'Position in the hash chain (1, 2, ...; gap-free unless the oldest rows were removed).';
COMMENT ON COLUMN loginvault.reveal_audit.prev_hash IS 'row_hash of the previous row of the chain (NULL for the first).';
COMMENT ON COLUMN loginvault.reveal_audit.row_hash IS 'sha256 over prev_hash and this row''s fields (loginvault.reveal_audit_hash).';

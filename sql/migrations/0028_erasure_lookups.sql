-- 0028: erasure without decrypting the quarantine, in both originals modes;
-- a guard on the wrapped keys; one reveal path (issue 17; what runs now:
-- sql/definitions/65_forget.sql, 30_quarantine.sql, 15_public_key.sql,
-- 70_reveal.sql).
--
-- user_logins_user_id      forget_user finds a user's logins by this index
--                          instead of scanning the table. Building it locks
--                          user_logins against writes until it is built: on a
--                          large table, build it first without the lock
--                          (CREATE INDEX CONCURRENTLY user_logins_user_id ON
--                          public.user_logins (user_id);), then migrate (IF
--                          NOT EXISTS then skips it). docs/database.md, "Erasure".
-- loginvault.user_tag_key  a random 32-byte HMAC key, generated here, used
--                          only to tag rejects with their user id (below).
--                          Owner only. Not the mask key: that one may be held
--                          outside the database, where the loader that
--                          quarantines at staging and the PII admin who
--                          erases may not have it, and it rotates.
-- rejected_logins.user_tag HMAC-SHA256 of the body's user id under that key
--                          (loginvault.user_tag, 30_quarantine.sql), computed
--                          when the message is quarantined, NULL when the
--                          body names no user id; indexed. forget_user finds
--                          a user's rejects by it, in either mode, without
--                          decrypting any body.
-- rejected_logins: a 'forgotten' reject keeps no ciphertext: body_encrypted
--                          and key_id NULL (before: the encryption of '' under
--                          the data key, which the public-key mode has not).
-- user_login_originals_key_id  a BRIN index on key_id (a few pages; almost
--                          nothing per inserted row, unlike a btree): the
--                          guard that refuses deleting a wrapped key still in
--                          use finds the rows under a key without a scan.
-- reveal_user_login, reveal_rejected_login  dropped: their audit row was part
--                          of the caller's transaction. Reveals go through
--                          CALL reveal_login / reveal_rejected (70_reveal.sql).

CREATE INDEX IF NOT EXISTS user_logins_user_id ON public.user_logins (user_id);

CREATE TABLE IF NOT EXISTS loginvault.user_tag_key (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  key_bytes bytea   NOT NULL CHECK (octet_length(key_bytes) >= 32)
);
COMMENT ON TABLE loginvault.user_tag_key IS
  'The HMAC key of rejected_logins.user_tag (one row; no grants: owner and SECURITY DEFINER functions only).';
REVOKE ALL ON loginvault.user_tag_key FROM PUBLIC;
INSERT INTO loginvault.user_tag_key (key_bytes) VALUES (loginvault.gen_random_bytes(32)) ON CONFLICT (one) DO NOTHING;

ALTER TABLE public.rejected_logins ADD COLUMN IF NOT EXISTS user_tag bytea;
COMMENT ON COLUMN public.rejected_logins.user_tag IS
  'HMAC-SHA256 of the body''s user id under loginvault.user_tag_key (NULL: the body names none); how forget_user finds a user''s rejects.';
CREATE INDEX IF NOT EXISTS rejected_logins_user_tag ON public.rejected_logins (user_tag) WHERE user_tag IS NOT NULL;

ALTER TABLE public.rejected_logins ALTER COLUMN key_id DROP NOT NULL, ALTER COLUMN body_encrypted DROP NOT NULL;
UPDATE public.rejected_logins SET key_id = NULL, body_encrypted = NULL WHERE reason = 'forgotten' AND key_id IS NOT NULL;
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'rejected_logins_body_unless_forgotten') THEN
    ALTER TABLE public.rejected_logins ADD CONSTRAINT rejected_logins_body_unless_forgotten
      CHECK (reason = 'forgotten' OR (key_id IS NOT NULL AND body_encrypted IS NOT NULL));
  END IF;
END
$$;

-- The rejects quarantined before this migration get their tag now, where the
-- database can decrypt them (symmetric mode; in the public-key mode it cannot,
-- and they stay untagged: docs/security.md, "Erasure"). The user id is found
-- as 30_quarantine.sql's loginvault.body_user_id finds it (a JSON object's
-- "user_id", an SNS envelope's Message's, else the first "user_id": "..." in
-- the text); this one-off copy is history, that function is what runs now.
DO $$
DECLARE
  r record;
  v_body text;
  v_doc jsonb;
  v_user_id text;
BEGIN
  FOR r IN SELECT j.reject_id, j.key_id, j.body_encrypted FROM public.rejected_logins j
            WHERE j.user_tag IS NULL AND j.reason <> 'forgotten'
              AND EXISTS (SELECT FROM loginvault.keys k WHERE k.key_id = j.key_id AND k.purpose = 'data')
  LOOP
    v_body := loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id));
    v_user_id := NULL;
    BEGIN
      v_doc := v_body::jsonb;
      IF v_doc->>'Type' = 'Notification' AND v_doc ? 'TopicArn' AND jsonb_typeof(v_doc->'Message') = 'string' THEN
        v_body := v_doc->>'Message';
        v_doc := v_body::jsonb;
      END IF;
      IF jsonb_typeof(v_doc) = 'object' THEN
        v_user_id := v_doc->>'user_id';
      END IF;
    EXCEPTION WHEN others THEN
      v_doc := NULL;
    END;
    IF v_user_id IS NULL AND jsonb_typeof(v_doc) IS DISTINCT FROM 'object' THEN
      BEGIN
        v_user_id := (('"' || substring(v_body FROM '"user_id"\s*:\s*"((?:[^"\\]|\\.)*)"') || '"')::jsonb) #>> '{}';
      EXCEPTION WHEN others THEN
        v_user_id := substring(v_body FROM '"user_id"\s*:\s*"((?:[^"\\]|\\.)*)"');
      END;
    END IF;
    IF v_user_id IS NOT NULL THEN
      UPDATE public.rejected_logins j
         SET user_tag = loginvault.hmac(convert_to('user_id:' || v_user_id, 'UTF8'),
                                        (SELECT t.key_bytes FROM loginvault.user_tag_key t), 'sha256')
       WHERE j.reject_id = r.reject_id;
    END IF;
  END LOOP;
END
$$;

CREATE INDEX IF NOT EXISTS user_login_originals_key_id ON loginvault.user_login_originals
  USING brin (key_id) WITH (autosummarize = on);

DROP FUNCTION IF EXISTS public.reveal_user_login(bigint);
DROP FUNCTION IF EXISTS public.reveal_rejected_login(text);

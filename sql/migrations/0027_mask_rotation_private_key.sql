-- 0027: the mask-key rotation takes the private key in public-key mode
-- (sql/definitions/82_mask_rotation.sql). Its functions gained the private
-- key's arguments (and rotate_mask_key held_outside); the definitions create
-- them under the new signatures, so the old ones go (one current definition
-- per object).
DROP FUNCTION IF EXISTS loginvault.originals_for_remask(bytea, integer);
DROP FUNCTION IF EXISTS loginvault.add_next_masks(bigint[]);
DROP FUNCTION IF EXISTS loginvault.remask_batch(bigint, integer);
DROP FUNCTION IF EXISTS loginvault.switch_mask_key();
DROP PROCEDURE IF EXISTS loginvault.rotate_mask_key(integer);

-- History outlives every re-import and phone change (issue 12).
--
-- A re-import used to delete an account's phones and insert them again;
-- attempts.phone_id was ON DELETE CASCADE, so the attempts went with them,
-- and with the attempts the Reg F 7-in-7 counts and the 72-hour rule's
-- facts (or, where an attempt had a no_interaction row, the import failed).
-- Now a phone missing from a re-import is retired, never deleted, and no
-- delete of an account, phone or campaign takes history with it: the
-- delete is refused while history points at the row.

-- When a re-import stopped listing the phone (NULL: a current phone).
-- Retired phones are never dialed; a phone listed again is current again,
-- the same row, so its attempts stay attached to it.
ALTER TABLE phones ADD COLUMN retired_at timestamptz;

-- Positions order an account's current phones; a retired phone keeps the
-- position it had, which a current phone may now hold.
ALTER TABLE phones DROP CONSTRAINT phones_account_id_position_key;
CREATE UNIQUE INDEX phones_current_position ON phones (account_id, position)
    WHERE retired_at IS NULL;

-- Attempts: what Reg F, the 72-hour rule, retry delays and max attempts
-- are computed from.
ALTER TABLE attempts
    DROP CONSTRAINT attempts_campaign_id_fkey,
    ADD CONSTRAINT attempts_campaign_id_fkey FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE RESTRICT,
    DROP CONSTRAINT attempts_account_id_fkey,
    ADD CONSTRAINT attempts_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT,
    DROP CONSTRAINT attempts_phone_id_fkey,
    ADD CONSTRAINT attempts_phone_id_fkey FOREIGN KEY (phone_id)
        REFERENCES phones (id) ON DELETE RESTRICT;

-- The follow-up outbox, the gate's refusals, and what debtors did when they
-- called in (inbound calls, call backs, promises to pay) are history too.
ALTER TABLE no_interaction
    DROP CONSTRAINT no_interaction_account_id_fkey,
    ADD CONSTRAINT no_interaction_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT;

ALTER TABLE compliance_refusals
    DROP CONSTRAINT compliance_refusals_campaign_id_fkey,
    ADD CONSTRAINT compliance_refusals_campaign_id_fkey FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE RESTRICT,
    DROP CONSTRAINT compliance_refusals_account_id_fkey,
    ADD CONSTRAINT compliance_refusals_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT;

ALTER TABLE inbound_calls
    DROP CONSTRAINT inbound_calls_account_id_fkey,
    ADD CONSTRAINT inbound_calls_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT;

ALTER TABLE callbacks
    DROP CONSTRAINT callbacks_account_id_fkey,
    ADD CONSTRAINT callbacks_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT;

ALTER TABLE promises
    DROP CONSTRAINT promises_account_id_fkey,
    ADD CONSTRAINT promises_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE RESTRICT;

-- Already without cascade, and staying so: call_events -> calls (and
-- append-only), inbound_calls -> calls, dispositions, no_interaction and
-- callbacks -> attempts / inbound_calls, attempts -> dialers.

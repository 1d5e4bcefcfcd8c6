-- An attempt whose call the PBX never placed (no channel, no RTP port, the
-- trunk down): it counts as no attempt for Reg F, retries or max attempts.
ALTER TABLE attempts DROP CONSTRAINT attempts_result_check,
    ADD CONSTRAINT attempts_result_check CHECK (result IN (
        'conversation', 'abandoned', 'machine', 'hung_up', 'busy', 'no_answer', 'failed',
        'lost', 'not_placed'));

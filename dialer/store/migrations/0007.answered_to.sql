-- Where a campaign's answered live calls go (issue 14): to an agent (as
-- before), or to the self-service IVR of an agentless "press to pay"
-- campaign, which keeps at most max_lines calls in flight instead of
-- pacing to free agents.
ALTER TABLE campaigns
    ADD COLUMN answered_to text NOT NULL DEFAULT 'agent'
        CHECK (answered_to IN ('agent', 'self_service')),
    ADD COLUMN max_lines integer CHECK (max_lines BETWEEN 1 AND 500),
    ADD CONSTRAINT campaigns_lines_of_self_service
        CHECK ((answered_to = 'self_service') = (max_lines IS NOT NULL));

-- What a self-service call comes to: the debtor proved to be the right
-- party and was served by the IVR (self_served), or did not (unverified:
-- nothing about the debt was said). Neither is an abandoned call.
ALTER TABLE attempts DROP CONSTRAINT attempts_result_check,
    ADD CONSTRAINT attempts_result_check CHECK (result IN (
        'conversation', 'abandoned', 'machine', 'hung_up', 'busy', 'no_answer', 'failed',
        'lost', 'not_placed', 'self_served', 'unverified'));

-- A promise to pay made in an outbound call's self-service menu: its attempt.
ALTER TABLE promises ADD COLUMN attempt_id uuid REFERENCES attempts (id);

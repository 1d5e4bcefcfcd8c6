-- A self-service campaign may keep up to 2,000 calls in flight (issue 20).
-- A floor of 100 agents dialing predictively keeps 300-600 calls going, and
-- one dialer process held 480 at 54.5 originates a second on the project's
-- two cores (recobro bench load): a cap of 500 sat below what one dialer
-- and one Asterisk carry. Asterisk's RTP range (rtp.conf, two ports a call)
-- and its channel limits are the production's to size.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_max_lines_check,
    ADD CONSTRAINT campaigns_max_lines_check CHECK (max_lines BETWEEN 1 AND 2000);

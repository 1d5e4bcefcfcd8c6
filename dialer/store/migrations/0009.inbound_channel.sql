-- An inbound call's channel as Asterisk names it (its ARI id): the API
-- reaches a connected inbound call through it, when its agent hands the
-- debtor to the payment capture (issue 14). NULL for calls taken before.
ALTER TABLE inbound_calls ADD COLUMN channel text;

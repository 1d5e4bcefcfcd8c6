-- A cold transfer to the inbound queue (issue 18, item 2): an agent sends
-- an outbound debtor to `recobro inbound`'s waiting line. The debtor's
-- channel becomes an inbound call (whoever takes it from the line is its
-- agent) that names the attempt it came from; the attempt keeps its own
-- result, the first agent's. Such a call was identified by the transfer.

ALTER TABLE inbound_calls ADD COLUMN from_attempt uuid REFERENCES attempts (id);

ALTER TABLE inbound_calls DROP CONSTRAINT inbound_calls_identified_by_check,
    ADD CONSTRAINT inbound_calls_identified_by_check
        CHECK (identified_by IN ('caller_id', 'account_number', 'none', 'transfer'));
